#!/usr/bin/env node
// Prints the package directories (relative to the repository root, one a line) that the
// given packages need at run time: their dependencies and the optional dependencies that
// are installed, resolved the way Node does (nearest node_modules first, then upwards).
// The console image copies only these out of node_modules.
//
//   node scripts/service-images/runtime-modules.mjs <root> <package>... [--skip <package>]...
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
const root = path.resolve(args.shift() ?? ".");
const wanted = [];
const skip = new Set();
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--skip") skip.add(args[++i] ?? "");
  else wanted.push(args[i]);
}

/** The directory `name` resolves to from `fromDir`, or null when no node_modules up to the root has it. */
function resolvePackage(name, fromDir) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules", name);
    if (existsSync(path.join(candidate, "package.json"))) return candidate;
    if (dir === root || dir === path.dirname(dir)) return null;
  }
}

const found = new Set();
const queue = wanted.map((name) => ({ name, from: root, optional: false }));
while (queue.length > 0) {
  const { name, from, optional } = queue.shift();
  if (skip.has(name)) continue;
  const dir = resolvePackage(name, from);
  if (!dir) {
    if (optional) continue;
    process.stderr.write(`runtime-modules: ${name} (needed from ${path.relative(root, from) || "."}) is not installed\n`);
    process.exit(1);
  }
  if (found.has(dir)) continue;
  found.add(dir);
  const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
  for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, from: dir, optional: false });
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ name: dep, from: dir, optional: true });
}
for (const dir of [...found].sort()) process.stdout.write(`${path.relative(root, dir)}\n`);
