#!/usr/bin/env node
// The two Node steps of scripts/start.sh, which stays resident as the supervisor so that no
// Node process does (≈ 50 MiB). Each step prints shell assignments on stdout for start.sh
// to eval (every value single-quoted), its log lines on stderr, and exits.
//
//   plan: prepares the start (scripts/launcher/prepare.mjs) and writes workerd's config;
//         prints runtime, data_dir, workerd_bin, control_fifo, and workerd's arguments as
//         `set --`. On CONSOLE_RUNTIME=miniflare it prints only runtime='miniflare'.
//   boot: reads workerd's ports from the control fifo, brings the console to serving
//         (scripts/launcher/boot.mjs) and prints console_url, plus worker_env and
//         worker_cmd when there is a local worker.
//
// What boot needs from plan (the control token among it) passes through an owner-only
// file in the data directory that boot reads and removes; the shell never holds it.
import { open, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bootConsole } from "./boot.mjs";
import { localWorkerEnv, WORKER_NODE_FLAGS } from "./local-worker.mjs";
import { LauncherError } from "./log.mjs";
import { readMigrations } from "./migrations.mjs";
import { prepareStart } from "./prepare.mjs";
import { dataDirFrom, parseAddr, runtimeFrom } from "./settings.mjs";
import { attachWorkerd, prepareWorkerd } from "./workerd-runtime.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const env = process.env;
const HANDOVER_FILE = "launch-handover.json";
const FIFO_FILE = "control.fifo";

/** One word for POSIX sh: single-quoted, with each ' written as '\''. */
export function shellWord(value) {
  return `'${String(value).replaceAll("'", "'\\''")}'`;
}

/** `name='value'` lines for sh's eval; names are checked, values quoted. */
export function shellAssignments(values) {
  return Object.entries(values)
    .map(([name, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a shell variable name: ${name}`);
      return `${name}=${shellWord(value)}\n`;
    })
    .join("");
}

/** `NAME=value` words for `env -i`, each quoted; names that are not plain variable names are left out. */
export function envWords(vars) {
  return Object.entries(vars)
    .filter(([name]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    .map(([name, value]) => shellWord(`${name}=${value}`))
    .join(" ");
}

function plan() {
  if (runtimeFrom(env) !== "workerd") return shellAssignments({ runtime: "miniflare" });
  const start = prepareStart(env, root);
  const { host, port, dataDir, distDir, bundleDir, options, vars, shims } = start;
  const workerd = prepareWorkerd({ root, bundleDir, options, vars, dataDir, distDir, host, port, shims });
  const handover = {
    controlToken: workerd.controlToken,
    configPath: workerd.configPath,
    bootStartedAt: start.bootStartedAt.getTime(),
    cred: start.cred,
    workerEntry: start.workerEntry,
  };
  const file = path.join(dataDir, HANDOVER_FILE);
  rmSync(file, { force: true });
  writeFileSync(file, JSON.stringify(handover), { mode: 0o600 });
  return (
    shellAssignments({
      runtime: "workerd",
      data_dir: dataDir,
      workerd_bin: workerd.binary,
      control_fifo: path.join(dataDir, FIFO_FILE),
    }) + `set -- ${workerd.args.map(shellWord).join(" ")}\n`
  );
}

/**
 * Opens the FIFO workerd writes its control events to, once workerd has opened it, as a
 * socket: read through the event loop (not the file system's thread pool, where a read
 * waiting on a FIFO would keep the process from exiting), and ended when workerd exits.
 */
function openFifo(file) {
  return new Promise((resolve, reject) =>
    open(file, "r", (err, fd) => (err ? reject(err) : resolve(new Socket({ fd, readable: true, writable: false })))),
  );
}

async function boot() {
  const { host, port } = parseAddr(env.CONSOLE_HTTP_ADDR);
  const dataDir = dataDirFrom(env, root);
  const file = path.join(dataDir, HANDOVER_FILE);
  let handover;
  try {
    handover = JSON.parse(readFileSync(file, "utf8"));
  } finally {
    rmSync(file, { force: true });
  }
  let runtime;
  let control;
  try {
    control = await openFifo(path.join(dataDir, FIFO_FILE));
    runtime = await attachWorkerd({ control, controlToken: handover.controlToken, configPath: handover.configPath });
  } catch (err) {
    rmSync(handover.configPath, { force: true });
    throw new LauncherError(
      `the console could not start on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  control.destroy();
  const migrations = readMigrations(path.join(root, "console-worker", "migrations"));
  const consoleUrl = await bootConsole(runtime, { host, migrations, bootStartedAt: new Date(handover.bootStartedAt) });
  let out = shellAssignments({ console_url: consoleUrl });
  if (handover.cred && handover.workerEntry) {
    out += `worker_env=${shellWord(envWords(localWorkerEnv(env, handover.cred, consoleUrl)))}\n`;
    out += `worker_cmd=${shellWord([process.execPath, ...WORKER_NODE_FLAGS, handover.workerEntry].map(shellWord).join(" "))}\n`;
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const step = process.argv[2];
  const run = step === "plan" ? async () => plan() : step === "boot" ? boot : null;
  if (!run) {
    process.stderr.write("usage: shell-steps.mjs plan|boot\n");
    process.exit(2);
  }
  run().then(
    // Exits once the answer is out: an idle keep-alive socket to the console must not hold it.
    (out) => process.stdout.write(out, () => process.exit(0)),
    (err) => {
      if (err instanceof LauncherError) process.stderr.write(`onlyboxes: ${err.message}\n`);
      else process.stderr.write(`onlyboxes: start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(2);
    },
  );
}
