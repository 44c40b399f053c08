// The console Worker on bare workerd (no Node process holds it): the launcher writes a
// config, `workerd serve` runs it (a child of scripts/start.sh, or of scripts/start.mjs),
// the launcher learns its ports from the control pipe and talks to it only through the
// control socket (migrations, the boot event).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { createInterface } from "node:readline";
import { LauncherError } from "./log.mjs";
import { workerdConfig } from "./workerd-config.mjs";

const SCRIPT_NAME = "onlyboxes-console";
const CONFIG_FILE = "workerd.capnp";
/**
 * V8 tuned for a small resident footprint: a 1 MiB young generation (instead of up to
 * 16 MiB per semi-space, per isolate) and V8's size-over-speed heuristics (slower heap
 * growth, leaner code). Measured on the console's calls (bench/cpu-bench.mjs), neither
 * costs CPU per request; together they keep workerd ≈ 15-20 MiB smaller after a load.
 */
const V8_FLAGS = ["--max-semi-space-size=1", "--optimize-for-size"];

/** The workerd binary Miniflare would run (the workerd package of the checkout). */
export function workerdBinary(root) {
  const require = createRequire(path.join(root, "package.json"));
  return require("workerd").default;
}

/** The bundle's modules, the entry first (source maps and notes are not modules). */
function consoleModules(bundleDir) {
  const names = readdirSync(bundleDir).filter((f) => /\.(m?js|wasm|txt|html|sql|bin)$/.test(f) && f !== "index.js");
  return ["index.js", ...names.sort()].map((name) => ({ name, path: path.join(bundleDir, name) }));
}

function listenAddress(host, port) {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * POSTs `body` as JSON to the control socket and answers the parsed reply. node:http, not
 * fetch: fetch's client alone would add ≈12 MiB to the launcher's resident memory.
 */
function controlRequest(port, token, route, body) {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: route,
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => {
          let answer = {};
          try {
            answer = JSON.parse(text);
          } catch {
            // reported below with the status
          }
          if (res.statusCode === 200) resolve(answer);
          else reject(new Error(`${route} failed (${res.statusCode}): ${answer.error ?? text}`));
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/**
 * Writes the config for workerd serving the bundled console on `host:port`, owner-only in
 * the data directory: it holds the console's variables (the hash key among them), so it is
 * removed as soon as workerd has read it (see `attachWorkerd`). Answers how to run workerd,
 * `{ binary, args, cwd, configPath, controlToken }`: `args` expect the control pipe on fd 3.
 */
export function prepareWorkerd({ root, bundleDir, options, vars, dataDir, distDir, host, port, shims }) {
  const doDir = path.join(dataDir, "do");
  const d1Dir = path.join(dataDir, "d1");
  mkdirSync(doDir, { recursive: true });
  mkdirSync(d1Dir, { recursive: true });
  const controlToken = randomBytes(32).toString("hex");
  const rel = (p) => path.relative(dataDir, p);
  const config = workerdConfig({
    scriptName: SCRIPT_NAME,
    options,
    vars,
    controlToken,
    v8Flags: V8_FLAGS,
    listen: listenAddress(host, port),
    paths: {
      consoleModules: consoleModules(bundleDir).map((m) => ({ name: m.name, path: rel(m.path) })),
      d1Module: rel(shims.d1Module),
      assetsModule: rel(shims.assetsModule),
      controlModule: rel(shims.controlModule),
      doDir,
      d1Dir,
      distDir,
    },
  });
  const configPath = path.join(dataDir, CONFIG_FILE);
  rmSync(configPath, { force: true });
  writeFileSync(configPath, config, { mode: 0o600 });

  // The address is on the command line too, so the process serving a port can be told.
  const args = ["serve", "--experimental", "--control-fd=3", `--socket-addr=entry=${listenAddress(host, port)}`, CONFIG_FILE];
  // For profiling (bench/profile-workerd.mjs): the V8 inspector on a loopback address.
  const inspect = process.env.ONLYBOXES_WORKERD_INSPECTOR_ADDR;
  if (inspect) args.push(`--inspector-addr=${inspect}`);
  return { binary: workerdBinary(root), args, cwd: dataDir, configPath, controlToken };
}

/**
 * Waits on workerd's control pipe (`control`, a readable stream) until both its sockets
 * listen, then removes the config. Answers `{ port, migrate(migrations), scheduled(cron,
 * time) }`. Rejects with a LauncherError when the pipe ends first (workerd exited) or
 * `failed` (a promise) rejects.
 */
export async function attachWorkerd({ control, controlToken, configPath, failed }) {
  const ports = {};
  try {
    await new Promise((resolve, reject) => {
      failed?.catch(reject);
      const lines = createInterface({ input: control });
      lines.on("line", (line) => {
        let event;
        try {
          event = JSON.parse(line);
        } catch {
          return;
        }
        if (event.event === "listen") ports[event.socket] = event.port;
        if (ports.entry !== undefined && ports.control !== undefined) resolve();
      });
      lines.on("close", () => reject(new LauncherError("workerd exited during start; see its output above")));
    });
  } finally {
    rmSync(configPath, { force: true });
  }
  const call = (route, body) => controlRequest(ports.control, controlToken, route, body);
  return {
    port: ports.entry,
    /** Applies the migrations the database has not recorded; answers their names. */
    async migrate(migrations) {
      return (await call("/migrate", { migrations })).applied;
    },
    /** Fires a scheduled event at the console and waits for its handler. */
    async scheduled(cron, scheduledTime = new Date()) {
      await call("/scheduled", { cron, scheduledTime: scheduledTime.getTime() });
    },
  };
}

/**
 * Starts workerd serving the bundled console on `host:port`, as a child of this process.
 * Answers `{ port, child, exited, migrate, scheduled, dispose() }`.
 */
export async function startWorkerdRuntime(opts) {
  const { binary, args, cwd, configPath, controlToken } = prepareWorkerd(opts);
  const child = spawn(binary, args, { cwd, stdio: ["ignore", "inherit", "inherit", "pipe"] });
  const failed = new Promise((_, reject) => {
    child.once("error", (err) => reject(new LauncherError(`workerd could not run: ${err.message}`)));
    child.once("exit", (code, signal) =>
      reject(new LauncherError(`workerd exited during start (${signal ?? `code ${code}`}); see its output above`)),
    );
  });
  let runtime;
  try {
    runtime = await attachWorkerd({ control: child.stdio[3], controlToken, configPath, failed });
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const exited = new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", () => r())));
  return {
    ...runtime,
    child,
    exited,
    async dispose() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
