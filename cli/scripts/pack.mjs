#!/usr/bin/env node
// Builds the installable CLI: one bundled ES module (our code, the generated ExecService
// and Connect for Node) with no runtime dependencies, wrapped in an npm package `onlyboxes`,
// then `npm pack`s it. Needs only Node to run.
//
//   node cli/scripts/pack.mjs            → cli/dist/onlyboxes-<version>.tgz
//   node cli/scripts/pack.mjs --no-pack  → only the package directory, cli/dist/package/
import { readFileSync } from "node:fs";
import path from "node:path";
import { packPackage } from "../../scripts/lib/pack-package.mjs";

const pkgRoot = path.resolve(import.meta.dirname, "..");
const { version } = JSON.parse(readFileSync(path.join(pkgRoot, "package.json"), "utf8"));

await packPackage({
  pkgRoot,
  name: "onlyboxes",
  bin: "onlyboxes",
  description: "Run Python and shell in an Onlyboxes console from a terminal, output streamed live.",
  esbuild: { define: { __ONLYBOXES_CLI_VERSION__: JSON.stringify(version) } },
  files: {
    "README.md": [
      "# onlyboxes",
      "",
      "The command-line client of an Onlyboxes console.",
      "",
      "```sh",
      "export ONLYBOXES_URL=http://127.0.0.1:8089 ONLYBOXES_TOKEN=obx_…",
      "onlyboxes run script.py      # Python, output live, exit code = the program's",
      "onlyboxes sh 'ls -la'        # a shell command in a new session (its id goes to stderr)",
      "onlyboxes sh -s SESSION 'cat notes.txt'",
      "S=$(onlyboxes session new)   # a session to work in (--lease SEC); session ls / rm too",
      "onlyboxes cp data.csv $S:    # upload into its /workspace",
      "onlyboxes run --session $S analyse.py",
      "onlyboxes cp $S:out.png .    # download",
      "```",
      "",
    ].join("\n"),
  },
});
