// The local worker as one prebuilt file, so its process neither loads a TypeScript loader
// nor transpiles at start (the published bin runs the sources through tsx). Built with
// esbuild in a short-lived child process, once per content of its sources.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { LauncherError, log } from "./log.mjs";
import { sourceHash } from "./source-hash.mjs";

/** npm dependencies of the given workspaces: left as imports (resolved from the checkout's node_modules). */
function externalPackages(root, workspaces) {
  const names = new Set();
  for (const ws of workspaces) {
    const pkg = JSON.parse(readFileSync(path.join(root, ws, "package.json"), "utf8"));
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      if (!name.startsWith("@onlyboxes/")) names.add(name);
    }
  }
  return [...names].sort();
}

/**
 * Answers the path of the bundled worker entry for the current sources, building it when
 * missing. It lives under node_modules/.cache so its imports resolve from the checkout;
 * the file name carries the content hash and is written through a rename, so two
 * launchers of one checkout never see a half-written file.
 */
export function bundleWorker(root) {
  const workspaces = ["worker-docker", "proto"];
  let esbuildVersion = "missing";
  try {
    esbuildVersion = JSON.parse(readFileSync(path.join(root, "node_modules", "esbuild", "package.json"), "utf8")).version;
  } catch {
    // reported by the build below
  }
  const hash = sourceHash(root, [...workspaces, "package-lock.json"], [`esbuild@${esbuildVersion}`]).slice(0, 16);
  const outDir = path.join(root, "node_modules", ".cache", "onlyboxes");
  // A folder per build: the Docker code is a chunk of its own, loaded after the worker has
  // connected instead of before.
  const buildDir = path.join(outDir, `onlyboxes-worker-${hash}`);
  const outFile = path.join(buildDir, "onlyboxes-worker.mjs");
  if (existsSync(outFile)) return outFile;
  const t0 = Date.now();
  mkdirSync(outDir, { recursive: true });
  const tmp = `${buildDir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  writeFileSync(
    path.join(outDir, "onlyboxes-worker-entry.ts"),
    'import { main } from "../../../worker-docker/src/main.ts";\nawait main();\n',
  );
  const r = spawnSync(
    path.join(root, "node_modules", ".bin", "esbuild"),
    [
      "--bundle",
      "--platform=node",
      "--format=esm",
      "--target=node20",
      "--log-level=error",
      "--splitting",
      "--entry-names=onlyboxes-worker",
      "--out-extension:.js=.mjs",
      ...externalPackages(root, workspaces).map((p) => `--external:${p}`),
      `--outdir=${tmp}`,
      path.join(outDir, "onlyboxes-worker-entry.ts"),
    ],
    { cwd: root, encoding: "utf8" },
  );
  if (r.status !== 0) throw new LauncherError(`bundling the local worker failed:\n${r.stderr}`);
  try {
    renameSync(tmp, buildDir);
  } catch (err) {
    // Another launcher of this checkout built the same sources first: its build is as good.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(outFile)) throw err;
  }
  log("local worker bundled", { ms: Date.now() - t0 });
  return outFile;
}
