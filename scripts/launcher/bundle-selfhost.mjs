// The self-host shims of console-worker/src/selfhost (D1 over a Durable Object, the
// dashboard's files, the control socket), built with esbuild in a short-lived child
// process, once per content of their sources, into the checkout's node_modules/.cache.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { LauncherError, log } from "./log.mjs";
import { sourceHash } from "./source-hash.mjs";

const ENTRIES = ["d1-database", "assets", "control"];

/** Answers `{ d1Module, assetsModule, controlModule }`: absolute paths of the built shims. */
export function bundleSelfhost(root) {
  let esbuildVersion = "missing";
  try {
    esbuildVersion = JSON.parse(readFileSync(path.join(root, "node_modules", "esbuild", "package.json"), "utf8")).version;
  } catch {
    // reported by the build below
  }
  const srcDir = path.join("console-worker", "src", "selfhost");
  const hash = sourceHash(
    root,
    [srcDir, "scripts/launcher/apply-migrations.mjs", "package-lock.json"],
    [`esbuild@${esbuildVersion}`],
  ).slice(0, 16);
  const outDir = path.join(root, "node_modules", ".cache", "onlyboxes", `selfhost-${hash}`);
  const files = Object.fromEntries(ENTRIES.map((e) => [e, path.join(outDir, `${e}.js`)]));
  const result = {
    d1Module: files["d1-database"],
    assetsModule: files.assets,
    controlModule: files.control,
  };
  if (ENTRIES.every((e) => existsSync(files[e]))) return result;
  const t0 = Date.now();
  const tmp = `${outDir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const r = spawnSync(
    path.join(root, "node_modules", ".bin", "esbuild"),
    [
      "--bundle",
      "--platform=neutral",
      "--format=esm",
      "--target=es2023",
      "--log-level=error",
      "--external:cloudflare:*",
      "--external:node:*",
      `--outdir=${tmp}`,
      ...ENTRIES.map((e) => path.join(root, srcDir, `${e}.ts`)),
    ],
    { cwd: root, encoding: "utf8" },
  );
  if (r.status !== 0) throw new LauncherError(`bundling the self-host shims failed:\n${r.stderr}`);
  try {
    renameSync(tmp, outDir);
  } catch (err) {
    // Another launcher of this checkout built the same sources first.
    rmSync(tmp, { recursive: true, force: true });
    if (!ENTRIES.every((e) => existsSync(files[e]))) throw err;
  }
  log("self-host shims bundled", { ms: Date.now() - t0 });
  return result;
}
