// The console Worker bundled exactly as `wrangler deploy` would, into the data directory
// (two consoles of one checkout never write the same bundle), skipped when no source
// changed since the last bundle.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { LauncherError, log } from "./log.mjs";
import { sourceHash } from "./source-hash.mjs";

const CACHE_FILE = "launcher-cache.json";

/** What the Worker's bundle is built from: every workspace but the dashboard (served, not bundled), the config and the lockfile. */
function bundleInputs(root) {
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  const workspaces = (pkg.workspaces ?? []).filter((w) => w !== "dashboard");
  return [...workspaces, "wrangler.toml", "package-lock.json"];
}

function toolVersion(root, name) {
  try {
    return `${name}@${JSON.parse(readFileSync(path.join(root, "node_modules", name, "package.json"), "utf8")).version}`;
  } catch {
    return `${name}@missing`;
  }
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
 * Bundles the console into `<dataDir>/bundle` unless a bundle of the same sources is
 * already there (or CONSOLE_BUNDLE_DIR names a prebuilt one). Answers the bundle
 * directory, the runtime options and [vars] from wrangler.toml, and whether a cached
 * bundle was used.
 */
export function bundleConsole(root, dataDir, env = process.env) {
  const prebuilt = env.CONSOLE_BUNDLE_DIR?.trim();
  if (prebuilt) return prebuiltBundle(path.resolve(prebuilt));
  const bundleDir = path.join(dataDir, "bundle");
  const configPath = path.join(root, "wrangler.toml");
  const hash = sourceHash(root, bundleInputs(root), [toolVersion(root, "wrangler"), process.version]);
  const cacheFile = path.join(bundleDir, CACHE_FILE);
  if (existsSync(cacheFile) && existsSync(path.join(bundleDir, "index.js"))) {
    try {
      const cached = JSON.parse(readFileSync(cacheFile, "utf8"));
      if (cached.hash === hash) return { bundleDir, options: cached.options, vars: cached.vars, cached: true };
    } catch {
      // A damaged cache file means bundling again.
    }
  }
  const t0 = Date.now();
  rmSync(bundleDir, { recursive: true, force: true });
  const childEnv = { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_LOG: "error", NO_UPDATE_NOTIFIER: "1" };
  const bundle = spawnSync(
    path.join(root, "node_modules", ".bin", "wrangler"),
    ["deploy", "--dry-run", "--outdir", bundleDir, "--config", configPath],
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
  const { options, vars } = JSON.parse(read.stdout);
  // Written last, through a rename: a bundle interrupted half-way is never taken as current.
  writeFileSync(`${cacheFile}.tmp`, JSON.stringify({ hash, options, vars }));
  renameSync(`${cacheFile}.tmp`, cacheFile);
  log("console bundled", { ms: Date.now() - t0 });
  return { bundleDir, options, vars, cached: false };
}
