#!/usr/bin/env node
// The Node part of scripts/start.sh, which stays resident as the supervisor so that no Node
// process does (≈ 50 MiB). Run as `shell-steps.mjs <dir>`, in the background, with stdout
// on a FIFO start.sh reads one line at a time; <dir> is start.sh's private directory with
// the FIFOs `control` (workerd's control pipe) already made. Two steps, each ended by a
// file of shell assignments (every value single-quoted) for start.sh to source and a line:
//
//   plan:   prepares the start (scripts/launcher/prepare.mjs) and writes workerd's config;
//           <dir>/plan.sh sets runtime, data_dir, workerd_bin, workerd's arguments (`set
//           --`), plus worker_env and worker_cmd when there is a local worker (its
//           environment has no console URL: the worker reads it from stdin). On
//           CONSOLE_RUNTIME=miniflare it sets only runtime='miniflare', and the process exits.
//   booted: once workerd has reported its ports on `control`, brings the console to serving
//           (scripts/launcher/boot.mjs); <dir>/booted.sh sets console_url.
//
// Errors go to stderr and the process exits 2 without the line, which start.sh sees as the
// end of its FIFO. The control token never leaves this process.
import { open, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bootConsole } from "./boot.mjs";
import { localWorkerArgs, localWorkerEnv } from "./local-worker.mjs";
import { consoleStartError, LauncherError } from "./log.mjs";
import { prepareStart } from "./prepare.mjs";
import { runtimeFrom } from "./settings.mjs";
import { attachWorkerd, prepareWorkerd } from "./workerd-runtime.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const env = process.env;
/** One word for POSIX sh: single-quoted, with each ' written as '\''. */
export function shellWord(value) {
  return `'${String(value).replaceAll("'", "'\\''")}'`;
}

/** A name sh (and `env`) takes as a variable. */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `name='value'` lines for sh's eval; names are checked, values quoted. */
export function shellAssignments(values) {
  return Object.entries(values)
    .map(([name, value]) => {
      if (!SHELL_NAME.test(name)) throw new Error(`not a shell variable name: ${name}`);
      return `${name}=${shellWord(value)}\n`;
    })
    .join("");
}

/** `NAME=value` words for `env -i`, each quoted; names that are not plain variable names are left out. */
export function envWords(vars) {
  return Object.entries(vars)
    .filter(([name]) => SHELL_NAME.test(name))
    .map(([name, value]) => shellWord(`${name}=${value}`))
    .join(" ");
}

/** Writes `file` (owner-only) with `text`, then says `line` on stdout. */
function handOver(file, text, line) {
  writeFileSync(file, text, { mode: 0o600 });
  return new Promise((resolve) => process.stdout.write(`${line}\n`, resolve));
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

async function main(dir) {
  if (runtimeFrom(env) !== "workerd") {
    await handOver(path.join(dir, "plan.sh"), shellAssignments({ runtime: "miniflare" }), "plan");
    return;
  }
  const start = prepareStart(env, root);
  const { host, port, dataDir, distDir, bundleDir, options, vars, shims } = start;
  const workerd = prepareWorkerd({ root, bundleDir, options, vars, dataDir, distDir, host, port, shims });
  const worker =
    start.cred && start.workerEntry
      ? {
          worker_env: envWords(localWorkerEnv(env, start.cred)),
          worker_cmd: [process.execPath, ...localWorkerArgs(start.workerEntry)].map(shellWord).join(" "),
        }
      : {};
  const plan = `${shellAssignments({
    runtime: "workerd",
    data_dir: dataDir,
    workerd_bin: workerd.binary,
    ...worker,
  })}set -- ${workerd.args.map(shellWord).join(" ")}\n`;
  let runtime;
  try {
    await handOver(path.join(dir, "plan.sh"), plan, "plan");
    const control = await openFifo(path.join(dir, "control"));
    runtime = await attachWorkerd({ control, controlToken: workerd.controlToken, configPath: workerd.configPath });
    control.destroy();
  } catch (err) {
    rmSync(workerd.configPath, { force: true });
    throw consoleStartError(host, port, err);
  }
  const consoleUrl = await bootConsole(runtime, start);
  await handOver(path.join(dir, "booted.sh"), shellAssignments({ console_url: consoleUrl }), "booted");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write("usage: shell-steps.mjs <dir>\n");
    process.exit(2);
  }
  main(dir).then(
    // Exits at once: an idle keep-alive socket to the console must not hold the process.
    () => process.exit(0),
    (err) => {
      if (err instanceof LauncherError) process.stderr.write(`onlyboxes: ${err.message}\n`);
      else process.stderr.write(`onlyboxes: start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(2);
    },
  );
}
