#!/usr/bin/env node
// Builds the installable worker: one bundled ES module (our code, the generated wire, Connect,
// dockerode and ws) with no runtime dependencies, wrapped in an npm package `onlyboxes-worker`
// with a systemd unit, then `npm pack`s it. Needs only Node and a Docker socket to run.
//
//   node worker-docker/scripts/pack.mjs            → worker-docker/dist/onlyboxes-worker-<version>.tgz
//   node worker-docker/scripts/pack.mjs --no-pack  → only the package directory, dist/package/
import { readFileSync } from "node:fs";
import path from "node:path";
import { packPackage } from "../../scripts/lib/pack-package.mjs";

const pkgRoot = path.resolve(import.meta.dirname, "..");
const packaging = (file) => readFileSync(path.join(pkgRoot, "packaging", file));

/** ESM output still has CommonJS dependencies (dockerode, ws): give them require and __dirname. */
const CJS_SHIM = [
  'import { createRequire as __obxRequire } from "node:module";',
  'import { fileURLToPath as __obxPath } from "node:url";',
  'import { dirname as __obxDir } from "node:path";',
  "const require = __obxRequire(import.meta.url);",
  "const __filename = __obxPath(import.meta.url);",
  "const __dirname = __obxDir(__filename);",
].join(" ");

await packPackage({
  pkgRoot,
  name: "onlyboxes-worker",
  bin: "onlyboxes-worker",
  description: "The Onlyboxes worker: dials out to an Onlyboxes console and runs sandboxed work in Docker.",
  prelude: CJS_SHIM,
  // ssh2 (under dockerode) probes for optional native speed-ups inside try/catch; without them it uses JS.
  esbuild: { external: ["cpu-features"], loader: { ".node": "empty" } },
  files: {
    "onlyboxes-worker.service": packaging("onlyboxes-worker.service"),
    "README.md": packaging("README.md"),
  },
});
