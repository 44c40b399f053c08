// What the launcher's cached builds share: each is built once per content of its sources
// into a folder of the checkout's node_modules/.cache, built aside and renamed into place
// whole, so a build interrupted half-way is never taken as current and two launchers of
// one checkout never write the same folder.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { LauncherError, log } from "./log.mjs";

/** `name@version` of an installed npm package (`name@missing` when it is not), for a build's content hash. */
export function toolVersion(root, name) {
  try {
    return `${name}@${JSON.parse(readFileSync(path.join(root, "node_modules", name, "package.json"), "utf8")).version}`;
  } catch {
    return `${name}@missing`;
  }
}

/**
 * Runs `build(tmp)` into a fresh folder beside `dir`, then renames it to `dir`. When the
 * rename fails because another launcher put the same build there first, `isComplete()`
 * decides whether that one serves. Logs `<what> bundled` with the time taken.
 */
export function buildAside(dir, isComplete, what, build) {
  const t0 = Date.now();
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  build(tmp);
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // Another launcher of this checkout built the same sources first: its build is as good.
    rmSync(tmp, { recursive: true, force: true });
    if (!isComplete()) throw err;
  }
  log(`${what} bundled`, { ms: Date.now() - t0 });
}

/** Runs the checkout's esbuild as a short-lived child with `args` (ES modules, bundled, errors only). */
export function esbuild(root, what, args) {
  const r = spawnSync(
    path.join(root, "node_modules", ".bin", "esbuild"),
    ["--bundle", "--format=esm", "--log-level=error", ...args],
    { cwd: root, encoding: "utf8" },
  );
  if (r.status !== 0) throw new LauncherError(`bundling ${what} failed:\n${r.stderr}`);
}
