// A content hash over the sources a build reads, so a build whose inputs did not change
// can be skipped.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const SKIP_DIRS = new Set(["node_modules", "dist", "test", ".wrangler", "coverage"]);

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name) && !e.name.startsWith(".")) walk(p, out);
    } else if (e.isFile()) {
      out.push(p);
    }
  }
}

/**
 * SHA-256 over the relative path and content of every file under `inputs` (files or
 * directories, relative to `root`; node_modules, dist and test folders skipped), plus
 * `extra` strings such as tool versions. Missing inputs count as empty.
 */
export function sourceHash(root, inputs, extra = []) {
  const files = [];
  for (const input of inputs) {
    const abs = path.join(root, input);
    let st;
    try {
      st = statSync(abs);
    } catch {
      continue;
    }
    if (st.isDirectory()) walk(abs, files);
    else files.push(abs);
  }
  files.sort();
  const h = createHash("sha256");
  for (const e of extra) h.update(`extra\0${e}\0`);
  for (const f of files) {
    h.update(`${path.relative(root, f)}\0`);
    h.update(readFileSync(f));
    h.update("\0");
  }
  return h.digest("hex");
}
