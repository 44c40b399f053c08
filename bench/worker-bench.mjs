#!/usr/bin/env node
// The local worker alone, against a small console stand-in on the real wire (WebSocket,
// Connect envelopes, the registry's protobuf): its CPU time per command (from /proc) and
// the round trip as the console would see it (dispatch sent → result received), for echo,
// terminalExec `pwd` on a warm session, or pythonExec `print(1)` (back to back, or paced).
// The worker runs as the launcher runs it (the prebuilt bundle of `--root`'s sources), so
// two checkouts compare side by side; `--prof DIR` writes the worker's V8 CPU profile.
//
//   node bench/worker-bench.mjs [--kind echo|terminal|python] [--n 2000] [--pace-ms 0]
//                               [--root DIR] [--prof DIR] [--env NAME=value ...]
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { register } from "tsx/esm/api";
import { WebSocketServer } from "ws";
import { fmt, numberArg, root as ownRoot, percentile, sleep } from "./lib.mjs";

register();
const { create } = await import("@bufbuild/protobuf");
const { ConnectResponseSchema } = await import("@onlyboxes/proto");
const { decodeRequest, encodeResponse } = await import("../console-worker/src/rpc/envelope.ts");

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const KIND = arg("kind", "echo");
const N = numberArg("n", KIND === "python" ? 40 : 2000);
const PACE_MS = numberArg("pace-ms", 0);
const ROOT = path.resolve(arg("root", ownRoot));
const PROF = arg("prof", "");
const extraEnv = Object.fromEntries(
  process.argv.flatMap((a, i) => (process.argv[i - 1] === "--env" ? [a.split(/=(.*)/s).slice(0, 2)] : [])),
);
const TICK_MS = 10;
/** [user, system] CPU ms of a process, from /proc. */
function cpuMs(pid) {
  const rest = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return [Number(rest[11]) * TICK_MS, Number(rest[12]) * TICK_MS];
}

const { bundleWorker } = await import(path.join(ROOT, "scripts/launcher/bundle-worker.mjs"));
const entry = bundleWorker(ROOT);
const nodeId = `wbench-${randomBytes(4).toString("hex")}`;

const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
await new Promise((r) => server.once("listening", r));
let socket;
const caps = new Set();
const pending = new Map();
const send = (payload) => socket.send(encodeResponse(create(ConnectResponseSchema, { payload })));
server.on("connection", (ws) => {
  ws.on("message", (data) => {
    const req = decodeRequest(new Uint8Array(data));
    if (req === null) return ws.close(1000);
    const p = req.payload;
    if (p.case === "hello") {
      socket = ws;
      for (const c of p.value.capabilities) caps.add(c.name);
      send({ case: "connectAck", value: { sessionId: "s1", heartbeatIntervalSec: 5 } });
    } else if (p.case === "capabilitiesUpdate") {
      for (const c of p.value.capabilities) caps.add(c.name);
    } else if (p.case === "heartbeat") send({ case: "heartbeatAck", value: {} });
    else if (p.case === "commandResult") {
      pending.get(p.value.commandId)?.(p.value);
      pending.delete(p.value.commandId);
    }
  });
});

const child = spawn(process.execPath, [...(PROF ? ["--cpu-prof", `--cpu-prof-dir=${PROF}`] : []), entry], {
  stdio: ["ignore", "ignore", "inherit"],
  env: {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("DOCKER_"))),
    WORKER_ID: nodeId,
    WORKER_SECRET: "obw_bench",
    WORKER_NODE_NAME: "bench",
    WORKER_CONSOLE_URL: `http://127.0.0.1:${server.address().port}`,
    WORKER_CONSOLE_INSECURE: "true",
    WORKER_DOCKER_ENABLED: KIND === "echo" ? "false" : "true",
    WORKER_LOG_LEVEL: "warn",
    ...extraEnv,
  },
});
const exited = new Promise((r) => child.once("exit", r));
// Never leave the worker behind, however this process ends.
process.once("exit", () => child.exitCode === null && child.kill("SIGKILL"));

let seq = 0;
/** One command; resolves { ms, result } once its result frame arrived. */
function dispatch(capability, payload) {
  const commandId = `c${++seq}`;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    pending.set(commandId, (result) => {
      const ms = performance.now() - t0;
      if (result.error) reject(new Error(`${capability}: ${result.error.code} ${result.error.message}`));
      else resolve({ ms, result: JSON.parse(new TextDecoder().decode(result.payloadJson)) });
    });
    send({
      case: "commandDispatch",
      value: {
        commandId,
        capability,
        payloadJson: new TextEncoder().encode(JSON.stringify(payload)),
        deadlineUnixMs: BigInt(Date.now() + 60_000),
      },
    });
  });
}

try {
  const want = { echo: "echo", terminal: "terminalExec", python: "pythonExec" }[KIND];
  for (let i = 0; !caps.has(want); i++) {
    if (i > 1200 || child.exitCode !== null) throw new Error(`the worker never offered ${want}`);
    await sleep(50);
  }
  const sessionId = `bench-${randomBytes(4).toString("hex")}`;
  // terminalExec with the API's default timeout (60 s): the shell server's common path, where
  // the command's limit needs no word to the session's watchdog.
  const call = {
    echo: () => dispatch("echo", { message: "bench" }),
    terminal: () => dispatch("terminalExec", { session_id: sessionId, command: "pwd", timeout_ms: 60_000 }),
    python: () => dispatch("pythonExec", { code: "print(1)", timeout_ms: 30_000 }),
  }[KIND];
  if (KIND === "terminal")
    await dispatch("terminalExec", {
      session_id: sessionId,
      command: "true",
      create_if_missing: true,
      timeout_ms: 60_000,
      lease_ttl_sec: 120,
    });
  const warm = KIND === "python" ? 3 : 200;
  for (let i = 0; i < warm; i++) await call();
  if (KIND === "python") await sleep(3000); // let the pool fill again
  const c0 = cpuMs(child.pid);
  const lat = [];
  for (let i = 0; i < N; i++) {
    if (PACE_MS) await sleep(PACE_MS);
    const { ms, result } = await call();
    if (KIND === "python" && result.output !== "1\n") throw new Error(`unexpected output ${JSON.stringify(result)}`);
    if (KIND === "terminal" && (result.stdout !== "/workspace\n" || result.stderr !== "")) {
      throw new Error(`unexpected output ${JSON.stringify(result)}`);
    }
    lat.push(ms);
  }
  const c1 = cpuMs(child.pid);
  const [user, sys] = [(c1[0] - c0[0]) / N, (c1[1] - c0[1]) / N];
  lat.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      kind: KIND,
      root: ROOT,
      n: N,
      pace_ms: PACE_MS,
      p50_ms: fmt(percentile(lat, 50)),
      p90_ms: fmt(percentile(lat, 90)),
      worker_cpu_ms_per_cmd: fmt(user + sys),
      user_ms: fmt(user),
      sys_ms: fmt(sys),
      load: readFileSync("/proc/loadavg", "utf8").split(" ")[0],
    }),
  );
} finally {
  child.kill("SIGTERM");
  await exited;
  server.close();
  if (KIND !== "echo") {
    // A clean stop keeps sessions for the next start of the node: this one never comes back.
    const run = promisify(execFile);
    const { stdout } = await run("docker", ["ps", "-aq", "--filter", `label=dev.onlyboxes.node-id=${nodeId}`]);
    const ids = stdout.split("\n").filter(Boolean);
    if (ids.length) await run("docker", ["rm", "-f", ...ids]);
  }
}
