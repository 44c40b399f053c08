#!/usr/bin/env node
// Builds the installable worker: one bundled ES module (our code, the generated wire, Connect,
// dockerode and ws) with no runtime dependencies, wrapped in an npm package `onlyboxes-worker`
// with a systemd unit, then `npm pack`s it. Needs only Node and a Docker socket to run.
//
//   node worker-docker/scripts/pack.mjs            → worker-docker/dist/onlyboxes-worker-<version>.tgz
//   node worker-docker/scripts/pack.mjs --no-pack  → only the package directory, dist/package/
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgRoot = path.resolve(here, "..");
const dist = path.join(pkgRoot, "dist");
const out = path.join(dist, "package");
const { version } = JSON.parse(readFileSync(path.join(pkgRoot, "package.json"), "utf8"));

/** ESM output still has CommonJS dependencies (dockerode, ws): give them require and __dirname. */
const CJS_SHIM = [
  'import { createRequire as __obxRequire } from "node:module";',
  'import { fileURLToPath as __obxPath } from "node:url";',
  'import { dirname as __obxDir } from "node:path";',
  "const require = __obxRequire(import.meta.url);",
  "const __filename = __obxPath(import.meta.url);",
  "const __dirname = __obxDir(__filename);",
].join(" ");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  stdin: {
    contents: 'import { main } from "./src/main.ts";\nawait main();\n',
    resolveDir: pkgRoot,
    sourcefile: "onlyboxes-worker.ts",
    loader: "ts",
  },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile: path.join(out, "onlyboxes-worker.mjs"),
  banner: { js: `#!/usr/bin/env node\n${CJS_SHIM}` },
  // ssh2 (under dockerode) probes for optional native speed-ups inside try/catch; without them it uses JS.
  external: ["cpu-features"],
  loader: { ".node": "empty" },
  legalComments: "linked",
  logLevel: "warning",
});

writeFileSync(
  path.join(out, "package.json"),
  `${JSON.stringify(
    {
      name: "onlyboxes-worker",
      version,
      description: "The Onlyboxes worker: dials out to an Onlyboxes console and runs sandboxed work in Docker.",
      type: "module",
      bin: { "onlyboxes-worker": "./onlyboxes-worker.mjs" },
      engines: { node: ">=20.19" },
      files: ["onlyboxes-worker.mjs", "onlyboxes-worker.mjs.LEGAL.txt", "onlyboxes-worker.service", "README.md"],
    },
    null,
    2,
  )}\n`,
);
copyFileSync(path.join(pkgRoot, "packaging", "onlyboxes-worker.service"), path.join(out, "onlyboxes-worker.service"));
copyFileSync(path.join(pkgRoot, "packaging", "README.md"), path.join(out, "README.md"));

if (!process.argv.includes("--no-pack")) {
  const r = spawnSync("npm", ["pack", "--pack-destination", dist, "--silent"], { cwd: out, encoding: "utf8" });
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    process.exit(r.status ?? 1);
  }
  process.stdout.write(`${path.join(dist, r.stdout.trim().split("\n").pop() ?? "")}\n`);
}
