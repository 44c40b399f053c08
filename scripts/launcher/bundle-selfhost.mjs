// The self-host shims of console-worker/src/selfhost (D1 over a Durable Object, the
// dashboard's files, the control socket), built with esbuild in a short-lived child
// process, once per content of their sources, into the checkout's node_modules/.cache.
import { existsSync } from "node:fs";
import path from "node:path";
import { buildAside, esbuild, toolVersion } from "./build-aside.mjs";
import { sourceHash } from "./source-hash.mjs";

const ENTRIES = ["d1-database", "assets", "control"];

/** Answers `{ d1Module, assetsModule, controlModule }`: absolute paths of the built shims. */
export function bundleSelfhost(root) {
  const srcDir = path.join("console-worker", "src", "selfhost");
  const hash = sourceHash(
    root,
    [srcDir, "scripts/launcher/apply-migrations.mjs", "package-lock.json"],
    [toolVersion(root, "esbuild")],
  ).slice(0, 16);
  const outDir = path.join(root, "node_modules", ".cache", "onlyboxes", `selfhost-${hash}`);
  const files = Object.fromEntries(ENTRIES.map((e) => [e, path.join(outDir, `${e}.js`)]));
  const result = {
    d1Module: files["d1-database"],
    assetsModule: files.assets,
    controlModule: files.control,
  };
  const complete = () => ENTRIES.every((e) => existsSync(files[e]));
  if (complete()) return result;
  buildAside(outDir, complete, "self-host shims", (tmp) =>
    esbuild(root, "the self-host shims", [
      "--platform=neutral",
      "--target=es2023",
      "--external:cloudflare:*",
      "--external:node:*",
      `--outdir=${tmp}`,
      ...ENTRIES.map((e) => path.join(root, srcDir, `${e}.ts`)),
    ]),
  );
  return result;
}
