#!/usr/bin/env node
// Builds the installable CLI: one bundled ES module (our code, the generated ExecService
// and Connect for Node) with no runtime dependencies, wrapped in an npm package `onlyboxes`,
// then `npm pack`s it. Needs only Node to run.
//
//   node cli/scripts/pack.mjs            → cli/dist/onlyboxes-<version>.tgz
//   node cli/scripts/pack.mjs --no-pack  → only the package directory, cli/dist/package/
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgRoot = path.resolve(here, "..");
const dist = path.join(pkgRoot, "dist");
const out = path.join(dist, "package");
const { version } = JSON.parse(readFileSync(path.join(pkgRoot, "package.json"), "utf8"));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  stdin: {
    contents: 'import { main } from "./src/main.ts";\nawait main();\n',
    resolveDir: pkgRoot,
    sourcefile: "onlyboxes.ts",
    loader: "ts",
  },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile: path.join(out, "onlyboxes.mjs"),
  banner: { js: "#!/usr/bin/env node" },
  define: { __ONLYBOXES_CLI_VERSION__: JSON.stringify(version) },
  legalComments: "linked",
  logLevel: "warning",
});

writeFileSync(
  path.join(out, "package.json"),
  `${JSON.stringify(
    {
      name: "onlyboxes",
      version,
      description: "Run Python and shell in an Onlyboxes console from a terminal, output streamed live.",
      type: "module",
      bin: { onlyboxes: "./onlyboxes.mjs" },
      engines: { node: ">=20.19" },
      files: ["onlyboxes.mjs", "onlyboxes.mjs.LEGAL.txt", "README.md"],
    },
    null,
    2,
  )}\n`,
);
writeFileSync(
  path.join(out, "README.md"),
  [
    "# onlyboxes",
    "",
    "The command-line client of an Onlyboxes console.",
    "",
    "```sh",
    "export ONLYBOXES_URL=http://127.0.0.1:8089 ONLYBOXES_TOKEN=obx_…",
    "onlyboxes run script.py      # Python, output live, exit code = the program's",
    "onlyboxes sh 'ls -la'        # a shell command in a new session (its id goes to stderr)",
    "onlyboxes sh -s SESSION 'cat notes.txt'",
    "```",
    "",
  ].join("\n"),
);

if (!process.argv.includes("--no-pack")) {
  const r = spawnSync("npm", ["pack", "--pack-destination", dist, "--silent"], { cwd: out, encoding: "utf8" });
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    process.exit(r.status ?? 1);
  }
  process.stdout.write(`${path.join(dist, r.stdout.trim().split("\n").pop() ?? "")}\n`);
}
