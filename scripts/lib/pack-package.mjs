// What the installable packages (the CLI, the worker) share: one bundled ES module with
// no runtime dependencies, a manifest and a few files beside it, then `npm pack`.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { build } from "esbuild";

/**
 * Bundles `<pkgRoot>/src/main.ts` (its `main()` run at load) into `dist/package/<bin>.mjs`,
 * writes the package manifest (name, the workspace's version) and `files` (name → content)
 * beside it, then packs it into `dist/` and prints the tarball's path, unless `--no-pack`
 * is on the command line. `esbuild` adds to or overrides the build options; `prelude` is
 * code placed after the shebang line.
 */
export async function packPackage({ pkgRoot, name, bin, description, files, esbuild = {}, prelude = "" }) {
  const dist = path.join(pkgRoot, "dist");
  const out = path.join(dist, "package");
  const { version } = JSON.parse(readFileSync(path.join(pkgRoot, "package.json"), "utf8"));

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  await build({
    stdin: {
      contents: 'import { main } from "./src/main.ts";\nawait main();\n',
      resolveDir: pkgRoot,
      sourcefile: `${bin}.ts`,
      loader: "ts",
    },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: path.join(out, `${bin}.mjs`),
    banner: { js: prelude ? `#!/usr/bin/env node\n${prelude}` : "#!/usr/bin/env node" },
    legalComments: "linked",
    logLevel: "warning",
    ...esbuild,
  });

  const manifest = {
    name,
    version,
    description,
    type: "module",
    bin: { [bin]: `./${bin}.mjs` },
    engines: { node: ">=20.19" },
    files: [`${bin}.mjs`, `${bin}.mjs.LEGAL.txt`, ...Object.keys(files)],
  };
  writeFileSync(path.join(out, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const [file, content] of Object.entries(files)) writeFileSync(path.join(out, file), content);

  if (!process.argv.includes("--no-pack")) {
    const r = spawnSync("npm", ["pack", "--pack-destination", dist, "--silent"], { cwd: out, encoding: "utf8" });
    if (r.status !== 0) {
      process.stderr.write(r.stderr);
      process.exit(r.status ?? 1);
    }
    process.stdout.write(`${path.join(dist, r.stdout.trim().split("\n").pop() ?? "")}\n`);
  }
}
