// The local worker as one prebuilt file, so its process neither loads a TypeScript loader
// nor transpiles at start (the published bin runs the sources through tsx). Built with
// esbuild in a short-lived child process, once per content of its sources.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { buildAside, esbuild, toolVersion } from "./build-aside.mjs";
import { sourceHash } from "./source-hash.mjs";

/**
 * Packages bundled into the worker instead of imported: dockerode (with docker-modem), so
 * that its require of modules the worker never uses goes through worker-require.mjs.
 */
const BUNDLED = ["dockerode"];

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
  const hash = sourceHash(
    root,
    [...workspaces, "package-lock.json", "scripts/launcher/worker-require.mjs"],
    [toolVersion(root, "esbuild"), BUNDLED.join(",")],
  ).slice(0, 16);
  const outDir = path.join(root, "node_modules", ".cache", "onlyboxes");
  // A folder per build: the Docker code is a chunk of its own, loaded after the worker has
  // connected instead of before.
  const buildDir = path.join(outDir, `onlyboxes-worker-${hash}`);
  const outFile = path.join(buildDir, "onlyboxes-worker.mjs");
  if (existsSync(outFile)) return outFile;
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    path.join(outDir, "onlyboxes-worker-entry.ts"),
    'import { main } from "../../../worker-docker/src/main.ts";\nawait main();\n',
  );
  buildAside(
    buildDir,
    () => existsSync(outFile),
    "local worker",
    (tmp) =>
      esbuild(root, "the local worker", [
        "--platform=node",
        "--target=node20",
        "--splitting",
        "--entry-names=onlyboxes-worker",
        "--out-extension:.js=.mjs",
        ...externalPackages(root, workspaces)
          .filter((p) => !BUNDLED.includes(p))
          .map((p) => `--external:${p}`),
        // Every other package stays external; the bundled CommonJS code requires through
        // workerRequire (one per chunk; the bundle sits four folders below the checkout).
        ...["ssh2", "@grpc/grpc-js", "@grpc/proto-loader", "cpu-features"].map((p) => `--external:${p}`),
        `--banner:js=import { workerRequire as __workerRequire } from "../../../../scripts/launcher/worker-require.mjs"; const require = __workerRequire(import.meta.url);`,
        `--outdir=${tmp}`,
        path.join(outDir, "onlyboxes-worker-entry.ts"),
      ]),
  );
  return outFile;
}
