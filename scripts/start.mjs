#!/usr/bin/env node
// Self-host launcher (`npm start`): the console on workerd with state on local disk, plus
// one local worker. Each step is a module of scripts/launcher/; this file only orders them.
// Ctrl+C stops the worker first (it finishes or cancels its work), then the console.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { get } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bundleConsole } from "./launcher/bundle.mjs";
import { bundleSelfhost } from "./launcher/bundle-selfhost.mjs";
import { bundleWorker } from "./launcher/bundle-worker.mjs";
import { startConsoleRuntime } from "./launcher/console-runtime.mjs";
import { scheduleDaily } from "./launcher/cron.mjs";
import { ensureDashboard } from "./launcher/dashboard.mjs";
import { loadHashKey } from "./launcher/hash-key.mjs";
import { loadLocalWorkerCredential, localWorkerEnv } from "./launcher/local-worker.mjs";
import { LauncherError, log } from "./launcher/log.mjs";
import { readMigrations } from "./launcher/migrations.mjs";
import { claimRuntimeVersion } from "./launcher/runtime-version.mjs";
import { consoleVars, dataDirFrom, localUrl, parseAddr, runtimeFrom } from "./launcher/settings.mjs";
import { supervise } from "./launcher/supervise.mjs";
import { startWorkerdRuntime } from "./launcher/workerd-runtime.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const env = process.env;
const BOOT_EVENT = "@boot";
const DAILY_CRON = "17 3 * * *";
// A 1 MiB young generation (Node's default lets it grow to 16 MiB per semi-space): the
// worker's objects are small and short-lived, so it scavenges more often for no measurable
// CPU per request, and its resident memory after a load stays ≈ 25 MiB lower.
const WORKER_NODE_FLAGS = ["--max-semi-space-size=1"];

let runtime = null;
let worker = null;
let stopping = false;

async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log("stopping", { signal });
  await worker?.stop();
  await runtime?.dispose().catch(() => {});
  log("stopped");
  process.exit(0);
}
// Miniflare installs handlers that exit on the first signal; ours stop in order instead.
function installSignalHandlers() {
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

async function main() {
  installSignalHandlers();
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

  // The worker process starts first and loads its code while the console starts; it gets
  // the console's URL (and connects) once the boot event has registered its credential.
  let consoleReadyUrl = null;
  let workerAwaiting = null;
  if (cred && workerEntry) {
    const workerEnv = localWorkerEnv(env, cred, null);
    worker = supervise(
      () => {
        const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, workerEntry], {
          cwd: root,
          stdio: ["ignore", "inherit", "inherit", "ipc"],
          env: workerEnv,
        });
        // The worker asks once it listens; the answer waits until the console is ready.
        child.on("message", (m) => {
          if (m?.awaitingConsole !== true) return;
          workerAwaiting = child;
          if (consoleReadyUrl) announceConsole(consoleReadyUrl);
        });
        return child;
      },
      { onExit: (code, signal) => log("local worker exited; restarting in 2 s", { code, signal }) },
    );
  }
  function announceConsole(url) {
    consoleReadyUrl = url;
    const child = workerAwaiting;
    if (child?.connected && child === worker?.current()) {
      workerAwaiting = null;
      child.send({ consoleUrl: url });
    }
  }

  const { bundleDir, options, vars: tomlVars } = bundleConsole(root, env);
  const shims = runtimeKind === "workerd" ? bundleSelfhost(root) : null;
  // Earlier launchers kept the bundle in the data directory; it is no longer read.
  rmSync(path.join(dataDir, "bundle"), { recursive: true, force: true });
  const migrations = readMigrations(path.join(root, "console-worker", "migrations"));

  // Rows older than this belong to the previous run (see the boot event below).
  const bootStartedAt = new Date();
  const vars = consoleVars(env, tomlVars, {
    CONSOLE_HASH_KEY: hashKey,
    CONSOLE_BOOT_ID: crypto.randomUUID(),
    CONSOLE_VERSION: JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version,
    // The console answers 503 + Retry-After until this migration is applied (it listens first).
    CONSOLE_SCHEMA_MIGRATION: migrations.at(-1)?.name ?? "",
    ...(cred ? { CONSOLE_LOCAL_WORKER_ID: cred.node_id, CONSOLE_LOCAL_WORKER_SECRET: cred.secret } : {}),
  });

  try {
    runtime = shims
      ? await startWorkerdRuntime({ root, bundleDir, options, vars, dataDir, distDir, host, port, shims })
      : await startConsoleRuntime({ bundleDir, options, vars, dataDir, distDir, host, port, env });
  } catch (err) {
    throw new LauncherError(
      `the console could not start on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  installSignalHandlers();
  // Without the console there is nothing to serve: stop the worker and say so.
  runtime.exited?.then(() => {
    if (stopping) return;
    log("workerd exited unexpectedly; stopping", { code: runtime.child.exitCode, signal: runtime.child.signalCode }, "error");
    stopping = true;
    void (async () => {
      await worker?.stop(5000);
      process.exit(1);
    })();
  });
  const consoleUrl = localUrl(host, runtime.port);
  for (const file of await runtime.migrate(migrations)) log("applied migration", { file });
  // The Worker's boot handler: fails tasks the previous run left unfinished, marks its
  // workers offline, and registers the local worker's credential.
  await runtime.scheduled(BOOT_EVENT, bootStartedAt);
  announceConsole(consoleUrl);

  // Trigger the first-start bootstrap now, so a generated admin password is printed at start.
  // node:http, not fetch: fetch's client would stay resident in this process (≈12 MiB).
  await new Promise((resolve) => {
    get(`${consoleUrl}/api/v1/console/session`, (res) => res.resume().on("end", resolve)).on("error", resolve);
  });
  process.stdout.write(`console listening on ${consoleUrl}\n`);
  log("console ready", { ms: Math.round(performance.now()) });

  scheduleDaily(() => runtime.scheduled(DAILY_CRON).catch((err) => log("scheduled run failed", { error: String(err) }, "error")));
}

main().catch((err) => {
  if (err instanceof LauncherError) process.stderr.write(`onlyboxes: ${err.message}\n`);
  else process.stderr.write(`onlyboxes: start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  void (async () => {
    await worker?.stop(5000);
    await runtime?.dispose().catch(() => {});
    process.exit(2);
  })();
});
