#!/usr/bin/env node
// The figures of the product's performance table, each next to its floor, in one run
// against one self-hosted console (`npm start` with its defaults: one account, the local
// worker), plus a breakdown of where echo's, pythonExec's and terminalExec's time goes
// (echo's floors from bench/floor.mjs: the design's round trip and a lean echo). Calls that
// are compared with each other (echo and its floors; REST, MCP and the capability) run in
// alternating batches, so the machine's load falls on each alike. Start-up and memory rows
// come from bench/startup-bench.mjs, run after. Bounded.
//
//   node bench/table.mjs [--seq 500] [--python 30] [--py-pause 500] [--terminal 100] [--burst-sec 5]
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { promisify } from "node:util";
import { register } from "tsx/esm/api";
import { startFloor } from "./floor.mjs";
import {
  bareNode,
  blast,
  fmt,
  interleaved,
  numberArg,
  percentile,
  request,
  root,
  signInWithToken,
  sleep,
  startConsole,
} from "./lib.mjs";

register();
const { createDockerBackend } = await import("../worker-docker/src/capabilities/docker-capabilities.ts");
const { parseDockerConfig } = await import("../worker-docker/src/docker-config.ts");
const { createLogger } = await import("../worker-docker/src/log.ts");

const execFileAsync = promisify(execFile);
const SEQ = numberArg("seq", 500);
const PY = numberArg("python", 30);
const TERM = numberArg("terminal", 100);
const BURST_SEC = numberArg("burst-sec", 5);
// Between paced pythonExec runs: long enough for the worker's pool to start a replacement.
const PY_PAUSE_MS = numberArg("py-pause", 500);
const phase = (name) => process.stderr.write(`bench: ${name}\n`);

const p50 = (lat) => percentile(lat, 50);

/** Sorted latencies of `n` sequential calls of `fn` (after `warm` uncounted ones); a failed call throws. */
async function timed(n, fn, warm = 5) {
  const [lat] = await interleaved([fn], n, { warm });
  return lat;
}

const ok = (r, what) => {
  if (r.status < 200 || r.status > 299) throw new Error(`${what}: ${r.status} ${r.body}`);
  return r;
};

const c = await startConsole();
const rows = [];
const breakdown = [];
let backend = null;
let bare = null;
let floor = null;
try {
  const { token } = await signInWithToken(c);
  const auth = { authorization: `Bearer ${token}` };
  const rest = async (p, body) => ok(await request(`${c.url}${p}`, { method: "POST", headers: auth, body }), p);
  let rpcId = 0;
  const mcp = async (name, args) => {
    const r = await request(`${c.url}/mcp`, {
      method: "POST",
      headers: { ...auth, accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18" },
      body: { jsonrpc: "2.0", id: ++rpcId, method: "tools/call", params: { name, arguments: args } },
    });
    const body = JSON.parse(r.body);
    if (r.status !== 200 || body.error || body.result?.isError) throw new Error(`MCP ${name}: ${r.status} ${r.body}`);
    return r;
  };

  // Echo: sequential latency against a bare Node route, MCP against REST.
  // The design's floors (bench/floor.mjs) in the same turns: the round trip every echo makes
  // and the least an echo of the contract can do on it.
  phase("echo");
  bare = await bareNode();
  floor = await startFloor();
  const post = (url, headers) => async () => ok(await request(url, { method: "POST", headers, body: { message: "bench" } }), url);
  const [bareLat, healthLat, tripLat, leanLat, echoLat, mcpLat] = await interleaved(
    [
      post(`${bare.url}/`),
      async () => ok(await request(`${c.url}/healthz`), "healthz"),
      post(floor.roundTrip.hib),
      post(floor.lean, floor.auth),
      () => rest("/api/v1/commands/echo", { message: "bench" }),
      () => mcp("echo", { message: "bench" }),
    ],
    SEQ,
    { warm: 100 },
  );
  floor.stop();
  floor = null;
  const ratio = (lat) => `${fmt(p50(lat) / p50(bareLat))}×`;
  rows.push([
    "echo p50 / bare Node HTTP route p50",
    `${ratio(echoLat)} (${fmt(p50(echoLat))} vs ${fmt(p50(bareLat))} ms; design floor ${ratio(tripLat)}, lean echo ${ratio(leanLat)})`,
    "≤ 2×",
  ]);
  rows.push([
    "MCP echo p50 / REST echo p50",
    `${fmt(p50(mcpLat) / p50(echoLat))}× (${fmt(p50(mcpLat))} vs ${fmt(p50(echoLat))} ms)`,
    "≤ 1.1×",
  ]);
  breakdown.push(["echo", "bare Node route", fmt(p50(bareLat))]);
  breakdown.push(["echo", "console /healthz (workerd + router, no Durable Object)", fmt(p50(healthLat))]);
  breakdown.push(["echo", "design floor: HTTP, Durable Object call, WebSocket round trip (bench/floor.mjs)", fmt(p50(tripLat))]);
  breakdown.push(["echo", "lean echo: the floor + HMAC bearer, JSON checked, protobuf wire both ways", fmt(p50(leanLat))]);
  breakdown.push(["echo", "REST echo (+ auth, WorkerNode, wire, worker)", fmt(p50(echoLat))]);

  // Echo burst: 16 keep-alive clients for BURST_SEC seconds, one account, from the lean
  // generator (node:http's client would be the bottleneck); the bare Node route first, as
  // the floor of the same generator on this machine.
  phase(`echo burst, 16 clients, ${BURST_SEC} s`);
  const bareBurst = await blast({ url: `${bare.url}/`, body: { message: "burst" }, seconds: BURST_SEC });
  const burst = await blast({
    url: `${c.url}/api/v1/commands/echo`,
    headers: auth,
    body: { message: "burst" },
    seconds: BURST_SEC,
  });
  const non2xx = [...burst.statuses].map(([s, n]) => `${n} × ${s}`).join(", ") || "0 non-2xx";
  rows.push([
    "echo, 16 concurrent keep-alive clients",
    `${Math.round(burst.ok / burst.secs)} ok/s, ${non2xx} (bare Node route: ${Math.round(bareBurst.ok / bareBurst.secs)} ok/s)`,
    "≥ 1,000 ok/s, 0 non-2xx",
  ]);

  // pythonExec: REST sync against `docker run` and the worker's own capability.
  phase("pythonExec");
  const pyLat = await timed(
    PY,
    () => rest("/api/v1/tasks", { capability: "pythonExec", input: { code: "print(1)" }, mode: "sync" }),
    3,
  );
  const config = parseDockerConfig({ ...process.env, WORKER_ID: `bench-${randomBytes(4).toString("hex")}` });
  const benchLog = createLogger({ component: "bench" }, "error");
  backend = await createDockerBackend(config, benchLog);
  const cap = (name) => backend.capabilities().find((x) => x.name === name);
  const ctx = () => ({
    commandId: `bench-${randomBytes(4).toString("hex")}`,
    deadlineUnixMs: Date.now() + 60_000,
    signal: new AbortController().signal,
    log: benchLog,
  });
  // Paced runs: a pause after each lets the pool start a replacement, so what is left is
  // the run itself (back-to-back runs above also wait for containers to start). The same
  // run over MCP calls the capability without a Task object or a task row; the worker's
  // capability called directly is the floor.
  const paced = (fn) => async () => {
    await fn();
    await sleep(PY_PAUSE_MS);
  };
  const [pyPacedLat, mcpPyLat, capPyLat] = await interleaved(
    [
      paced(() => rest("/api/v1/tasks", { capability: "pythonExec", input: { code: "print(1)" }, mode: "sync" })),
      paced(() => mcp("pythonExec", { code: "print(1)" })),
      paced(() => cap("pythonExec").run({ code: "print(1)" }, ctx())),
    ],
    PY,
    { warm: 3, batch: 5 },
  );
  const dockerRunLat = await timed(
    5,
    () => execFileAsync("docker", ["run", "--rm", "--network", "none", config.pythonImage, "python3", "-c", "print(1)"]),
    1,
  );
  const pyPaced = p50(pyPacedLat) - PY_PAUSE_MS;
  rows.push([
    "pythonExec `print(1)`, REST sync, p50",
    `${fmt(p50(pyLat))} ms back-to-back, ${fmt(pyPaced)} ms paced (docker run: ${fmt(p50(dockerRunLat))})`,
    "≤ 50 ms",
  ]);
  const capPy = p50(capPyLat) - PY_PAUSE_MS;
  breakdown.push(["pythonExec", `worker capability, paced ${PY_PAUSE_MS} ms (pool hand-off, code in, result out)`, fmt(capPy)]);
  breakdown.push(["pythonExec", "console + Durable Objects + D1 + wire (REST paced − capability paced)", fmt(pyPaced - capPy)]);
  const mcpPy = p50(mcpPyLat) - PY_PAUSE_MS;
  breakdown.push(["pythonExec", "  of which dispatch, wire and local worker (MCP paced − capability paced)", fmt(mcpPy - capPy)]);
  breakdown.push(["pythonExec", "  of which the task path: Task object, D1 row (REST paced − MCP paced)", fmt(pyPaced - mcpPy)]);
  breakdown.push(["pythonExec", "waiting for a container to start (REST back-to-back − REST paced)", fmt(p50(pyLat) - pyPaced)]);

  // terminalExec: a warm session's `pwd` against `docker exec` and the capability.
  phase("terminalExec");
  const first = JSON.parse((await rest("/api/v1/commands/terminal", { command: "true", lease_ttl_sec: 600 })).body);
  const sid = `bench-${randomBytes(4).toString("hex")}`;
  await cap("terminalExec").run({ session_id: sid, command: "true", create_if_missing: true }, ctx());
  const [termLat, capTermLat] = await interleaved(
    [
      () => rest("/api/v1/commands/terminal", { session_id: first.session_id, command: "pwd" }),
      () => cap("terminalExec").run({ session_id: sid, command: "pwd" }, ctx()),
    ],
    TERM,
    { warm: 5, batch: 20 },
  );
  const { stdout: cid } = await execFileAsync("docker", [
    "run",
    "-d",
    "--rm",
    "--network",
    "none",
    config.terminalImage,
    "sleep",
    "120",
  ]);
  const execLat = await timed(10, () => execFileAsync("docker", ["exec", cid.trim(), "pwd"]), 1);
  await execFileAsync("docker", ["rm", "-f", cid.trim()]).catch(() => {});
  rows.push(["terminalExec `pwd`, warm session, p50", `${fmt(p50(termLat))} ms (docker exec: ${fmt(p50(execLat))})`, "≤ 8 ms"]);
  breakdown.push(["terminalExec", "worker capability (shell server round trip)", fmt(p50(capTermLat))]);
  breakdown.push([
    "terminalExec",
    "console + Session and WorkerNode objects + wire (REST − capability)",
    fmt(p50(termLat) - p50(capTermLat)),
  ]);
} finally {
  bare?.stop();
  floor?.stop();
  await backend?.close();
  await c.stop();
}

console.log("\nOnlyboxes on this machine, one run (p50 unless said):");
console.table(rows.map(([figure, now, target]) => ({ figure, measured: now, target })));
console.log("Where the time goes (p50 ms):");
console.table(breakdown.map(([call, part, ms]) => ({ call, part, ms })));

phase("start-up and memory (bench/startup-bench.mjs)");
const startup = path.join(root, "bench", "startup-bench.mjs");
await new Promise((resolve) => spawn(process.execPath, [startup], { stdio: "inherit" }).once("exit", resolve));
