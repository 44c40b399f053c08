// What both launchers (scripts/start.sh and scripts/start.mjs) do before the console
// runtime starts: settings, the data directory and its keys, the dashboard, the bundles,
// and the console's variables.
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { bundleConsole } from "./bundle.mjs";
import { bundleSelfhost } from "./bundle-selfhost.mjs";
import { bundleWorker } from "./bundle-worker.mjs";
import { ensureDashboard } from "./dashboard.mjs";
import { loadHashKey } from "./hash-key.mjs";
import { loadLocalWorkerCredential } from "./local-worker.mjs";
import { readMigrations } from "./migrations.mjs";
import { claimRuntimeVersion } from "./runtime-version.mjs";
import { consoleVars, dataDirFrom, parseAddr, runtimeFrom } from "./settings.mjs";

/**
 * Prepares a start of the console from the operator's environment. Answers `{ host, port,
 * dataDir, distDir, cred, workerEntry, bundleDir, options, shims, migrations,
 * vars, bootStartedAt }`; `cred` and `workerEntry` are null without a local worker, and
 * `shims` is null on the Miniflare runtime.
 */
export function prepareStart(env, root) {
  const { host, port } = parseAddr(env.CONSOLE_HTTP_ADDR);
  const runtimeKind = runtimeFrom(env);
  const dataDir = dataDirFrom(env, root);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const hashKey = loadHashKey(env, dataDir, (m) => process.stderr.write(`onlyboxes: warning: ${m}\n`));
  const distDir = ensureDashboard(root);
  // Miniflare pins the exact workerd both runtimes run, so its version names the data format.
  claimRuntimeVersion(
    dataDir,
    JSON.parse(readFileSync(path.join(root, "node_modules", "miniflare", "package.json"), "utf8")).version,
  );
  const localWorker = (env.CONSOLE_LOCAL_WORKER ?? "true").toLowerCase() !== "false";
  const cred = localWorker ? loadLocalWorkerCredential(dataDir) : null;
  const workerEntry = localWorker ? bundleWorker(root) : null;

  const { bundleDir, options, vars: tomlVars } = bundleConsole(root, env);
  const shims = runtimeKind === "workerd" ? bundleSelfhost(root) : null;
  // Earlier launchers kept the bundle in the data directory; it is no longer read.
  rmSync(path.join(dataDir, "bundle"), { recursive: true, force: true });
  const migrations = readMigrations(path.join(root, "console-worker", "migrations"));

  // Rows older than this belong to the previous run (see the boot event).
  const bootStartedAt = new Date();
  const vars = consoleVars(env, tomlVars, {
    CONSOLE_HASH_KEY: hashKey,
    CONSOLE_BOOT_ID: crypto.randomUUID(),
    CONSOLE_VERSION: JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version,
    // The console answers 503 + Retry-After until this migration is applied (it listens first).
    CONSOLE_SCHEMA_MIGRATION: migrations.at(-1)?.name ?? "",
    ...(cred ? { CONSOLE_LOCAL_WORKER_ID: cred.node_id, CONSOLE_LOCAL_WORKER_SECRET: cred.secret } : {}),
  });
  return {
    host,
    port,
    dataDir,
    distDir,
    cred,
    workerEntry,
    bundleDir,
    options,
    shims,
    migrations,
    vars,
    bootStartedAt,
  };
}
