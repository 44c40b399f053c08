#!/usr/bin/env node
// The self-host launcher in one Node process: the console (on workerd, or on Miniflare with
// CONSOLE_RUNTIME=miniflare) with state on local disk, plus one local worker. `npm start`
// runs scripts/start.sh, which does the same with a shell as the resident supervisor and
// comes here for the Miniflare runtime; this file also serves where there is no POSIX sh.
// Each step is a module of scripts/launcher/; this file only orders them.
// Ctrl+C stops the worker first (it finishes or cancels its work), then the console.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bootConsole } from "./launcher/boot.mjs";
import { startConsoleRuntime } from "./launcher/console-runtime.mjs";
import { localWorkerArgs, localWorkerEnv } from "./launcher/local-worker.mjs";
import { consoleStartError, LauncherError, log } from "./launcher/log.mjs";
import { prepareStart } from "./launcher/prepare.mjs";
import { supervise } from "./launcher/supervise.mjs";
import { startWorkerdRuntime } from "./launcher/workerd-runtime.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const env = process.env;

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
  const start = prepareStart(env, root);
  const { host, port, dataDir, distDir, bundleDir, options, vars, shims } = start;
  // The worker starts first and loads its code while the console starts; it reads the
  // console's URL on stdin. One started again later gets the URL in its environment.
  let consoleUrl = null;
  let awaiting = null;
  if (start.cred && start.workerEntry) {
    const args = localWorkerArgs(start.workerEntry);
    worker = supervise(
      () => {
        const child = spawn(process.execPath, args, {
          cwd: root,
          stdio: [consoleUrl ? "ignore" : "pipe", "inherit", "inherit"],
          env: localWorkerEnv(env, start.cred, consoleUrl),
        });
        if (!consoleUrl) {
          // A worker that exits before reading leaves a closed pipe behind: nothing to report.
          child.stdin.on("error", () => {});
          awaiting = child;
        }
        return child;
      },
      { onExit: (code, signal) => log("local worker exited; restarting in 2 s", { code, signal }) },
    );
  }
  try {
    runtime = shims
      ? await startWorkerdRuntime({ root, bundleDir, options, vars, dataDir, distDir, host, port, shims })
      : await startConsoleRuntime({ bundleDir, options, vars, dataDir, distDir, host, port, env });
  } catch (err) {
    throw consoleStartError(host, port, err);
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
  consoleUrl = await bootConsole(runtime, start);
  awaiting?.stdin.end(`${consoleUrl}\n`);
  awaiting = null;
  process.stdout.write(`console listening on ${consoleUrl}\n`);
  log("console ready", { ms: Math.round(performance.now()) });
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
