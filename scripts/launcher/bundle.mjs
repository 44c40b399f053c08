// The console Worker bundled exactly as `wrangler deploy` would, once per content of its
// sources, into a folder of the checkout's node_modules/.cache named by that content: a
// new data directory reuses it, and two launchers of one checkout never write the same
// folder (each builds aside and renames).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { buildAside, toolVersion } from "./build-aside.mjs";
import { LauncherError } from "./log.mjs";
import { sourceHash } from "./source-hash.mjs";

const CACHE_FILE = "launcher-cache.json";

/** What the Worker's bundle is built from: every workspace but the dashboard (served, not bundled), the config and the lockfile. */
function bundleInputs(root) {
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  const workspaces = (pkg.workspaces ?? []).filter((w) => w !== "dashboard");
  return [...workspaces, "wrangler.toml", "package-lock.json"];
}

/** A bundle made ahead of time (the console image carries one): used as it is, never rebuilt. */
function prebuiltBundle(dir) {
  try {
    const cached = JSON.parse(readFileSync(path.join(dir, CACHE_FILE), "utf8"));
    if (existsSync(path.join(dir, "index.js")))
      return { bundleDir: dir, options: cached.options, vars: cached.vars, cached: true };
  } catch {
    // Reported below like a missing bundle.
  }
  throw new LauncherError(`CONSOLE_BUNDLE_DIR ${dir} holds no bundle (index.js and ${CACHE_FILE} from a previous bundling)`);
}

/**
 * Answers the bundle of the current sources (building it when missing into a folder of
 * node_modules/.cache named by their hash), or the prebuilt one CONSOLE_BUNDLE_DIR names:
 * its directory, the runtime options and [vars] from wrangler.toml, and whether an
 * existing bundle was used.
 */
export function bundleConsole(root, env = process.env) {
  const prebuilt = env.CONSOLE_BUNDLE_DIR?.trim();
  if (prebuilt) return prebuiltBundle(path.resolve(prebuilt));
  const configPath = path.join(root, "wrangler.toml");
  const hash = sourceHash(root, bundleInputs(root), [toolVersion(root, "wrangler"), process.version]);
  const cacheDir = path.join(root, "node_modules", ".cache", "onlyboxes");
  const bundleDir = path.join(cacheDir, `console-${hash.slice(0, 16)}`);
  const cacheFile = path.join(bundleDir, CACHE_FILE);
  if (existsSync(cacheFile) && existsSync(path.join(bundleDir, "index.js"))) {
    try {
      const cached = JSON.parse(readFileSync(cacheFile, "utf8"));
      if (cached.hash === hash) return { bundleDir, options: cached.options, vars: cached.vars, cached: true };
    } catch {
      // A damaged cache file means bundling again.
    }
  }
  const childEnv = { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_LOG: "error", NO_UPDATE_NOTIFIER: "1" };
  let options;
  let vars;
  // A stale or damaged bundle goes first: the new one is renamed into its place.
  rmSync(bundleDir, { recursive: true, force: true });
  buildAside(
    bundleDir,
    () => existsSync(cacheFile),
    "console",
    (tmp) => {
      const bundle = spawnSync(
        path.join(root, "node_modules", ".bin", "wrangler"),
        ["deploy", "--dry-run", "--outdir", tmp, "--config", configPath],
        { cwd: root, encoding: "utf8", env: childEnv },
      );
      if (bundle.status !== 0) throw new LauncherError(`bundling the console failed:\n${bundle.stdout}\n${bundle.stderr}`);
      const read = spawnSync(process.execPath, [path.join(import.meta.dirname, "wrangler-config.mjs"), configPath], {
        cwd: root,
        encoding: "utf8",
        env: childEnv,
        maxBuffer: 16 * 1024 * 1024,
      });
      if (read.status !== 0) throw new LauncherError(`reading wrangler.toml failed:\n${read.stderr}`);
      ({ options, vars } = JSON.parse(read.stdout));
      writeFileSync(path.join(tmp, CACHE_FILE), JSON.stringify({ hash, options, vars }));
    },
  );
  return { bundleDir, options, vars, cached: false };
}
