#!/usr/bin/env node
// What the task path (POST /api/v1/tasks, mode sync) adds to a call, measured against the
// same call without it, in one run against one self-hosted console:
//   echo: a sync echo task against POST /api/v1/commands/echo (no Docker, so no container noise);
//   pythonExec `print(1)`: a sync task against the same call over MCP (runs the capability
//   without a Task object) and against the worker's own capability (the run itself).
// Prints p50 wall ms and workerd's CPU ms per call (CPU barely moves with the machine's
// load, unlike wall time). pythonExec runs are paced so the worker's pool keeps up.
//
// With --fsync (needs strace and ptrace rights), also the disk flushes workerd makes per
// call: each is a commit of a Durable Object's or D1's SQLite, and under disk load the
// slowest step of a short call.
//
//   node bench/task-bench.mjs [--n 200] [--python 30] [--py-pause 500] [--no-python] [--fsync]
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { register } from "tsx/esm/api";
import { childrenOf, cpuMs, fmt, numberArg, percentile, request, signInWithToken, sleep, startConsole } from "./lib.mjs";

const N = numberArg("n", 200);
const PY = numberArg("python", 30);
const PY_PAUSE_MS = numberArg("py-pause", 500);
const PYTHON = !process.argv.includes("--no-python");
const FSYNC = process.argv.includes("--fsync");
const phase = (name) => process.stderr.write(`bench: ${name}\n`);

const ok = (r, what) => {
  if (r.status < 200 || r.status > 299) throw new Error(`${what}: ${r.status} ${r.body}`);
  return r;
};

/** `n` sequential calls of `fn` after `warm` uncounted ones: sorted wall ms, and workerd CPU ms per call. */
async function measure(n, fn, workerdPid, { warm = 5, pauseMs = 0 } = {}) {
  for (let i = 0; i < warm; i++) {
    await fn();
    if (pauseMs) await sleep(pauseMs);
  }
  const lat = [];
  let cpu = 0;
  for (let i = 0; i < n; i++) {
    const c0 = cpuMs(workerdPid);
    const t = performance.now();
    await fn();
    lat.push(performance.now() - t);
    cpu += cpuMs(workerdPid) - c0;
    if (pauseMs) await sleep(pauseMs);
  }
  lat.sort((a, b) => a - b);
  return { p50: percentile(lat, 50), p90: percentile(lat, 90), cpu: cpu / n };
}

/** fsync/fdatasync calls of `pid` (all threads) per call of `fn`, over `n` calls, counted by strace. */
async function fsyncsPerCall(pid, n, fn, pauseMs = 0) {
  const st = spawn("strace", ["-f", "-c", "-e", "trace=fsync,fdatasync", "-p", String(pid)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let out = "";
  st.stderr.on("data", (b) => {
    out += b;
  });
  // strace prints "attached" once it follows the process.
  for (let i = 0; i < 100 && !/attached/.test(out); i++) await sleep(50);
  for (let i = 0; i < n; i++) {
    await fn();
    if (pauseMs) await sleep(pauseMs);
  }
  st.kill("SIGINT");
  await new Promise((r) => st.once("exit", r));
  const calls = [...out.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?f(?:data)?sync$/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
  return calls / n;
}

const c = await startConsole({ WORKER_DOCKER_ENABLED: PYTHON ? "true" : "false" });
const rows = [];
let backend = null;
try {
  const { token } = await signInWithToken(c);
  const auth = { authorization: `Bearer ${token}` };
  const workerd = childrenOf(c.child.pid).find((p) => /workerd/.test(p.cmd));
  if (!workerd) throw new Error("no workerd process under the launcher");
  const post = async (p, body, headers = {}) =>
    ok(await request(`${c.url}${p}`, { method: "POST", headers: { ...auth, ...headers }, body }), p);
  const task = async (capability, input) => {
    const r = await post("/api/v1/tasks", { capability, input, mode: "sync" });
    if (r.status !== 200) throw new Error(`task ${capability}: ${r.status} ${r.body}`);
    return r;
  };
  let rpcId = 0;
  const mcp = async (name, args) => {
    const r = await post(
      "/mcp",
      { jsonrpc: "2.0", id: ++rpcId, method: "tools/call", params: { name, arguments: args } },
      { accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18" },
    );
    const body = JSON.parse(r.body);
    if (body.error || body.result?.isError) throw new Error(`MCP ${name}: ${r.body}`);
    return r;
  };

  phase(`echo, ${N} each, alternating rounds`);
  // Two alternating rounds of each, so a burst of load from elsewhere hits both sides.
  const echoCmd = [];
  const echoTask = [];
  for (let round = 0; round < 2; round++) {
    echoCmd.push(await measure(N / 2, () => post("/api/v1/commands/echo", { message: "bench" }), workerd.pid, { warm: 20 }));
    echoTask.push(await measure(N / 2, () => task("echo", { message: "bench" }), workerd.pid, { warm: 20 }));
  }
  const avg = (xs, k) => xs.reduce((s, x) => s + x[k], 0) / xs.length;
  const ec = { p50: avg(echoCmd, "p50"), cpu: avg(echoCmd, "cpu") };
  const et = { p50: avg(echoTask, "p50"), cpu: avg(echoTask, "cpu") };
  rows.push({ call: "echo", path: "POST /api/v1/commands/echo", "p50 ms": fmt(ec.p50), "workerd CPU ms": fmt(ec.cpu) });
  rows.push({ call: "echo", path: "sync task", "p50 ms": fmt(et.p50), "workerd CPU ms": fmt(et.cpu) });
  rows.push({
    call: "echo",
    path: "task path's share (task − command)",
    "p50 ms": fmt(et.p50 - ec.p50),
    "workerd CPU ms": fmt(et.cpu - ec.cpu),
  });
  if (FSYNC) {
    const cmd = await fsyncsPerCall(workerd.pid, 20, () => post("/api/v1/commands/echo", { message: "bench" }));
    const tsk = await fsyncsPerCall(workerd.pid, 20, () => task("echo", { message: "bench" }));
    rows.push({
      call: "echo",
      path: "disk flushes per call: command / task",
      "p50 ms": `${fmt(cmd)} / ${fmt(tsk)}`,
      "workerd CPU ms": "",
    });
  }

  if (PYTHON) {
    register();
    const { createDockerBackend } = await import("../worker-docker/src/capabilities/docker-capabilities.ts");
    const { parseDockerConfig } = await import("../worker-docker/src/docker-config.ts");
    const { createLogger } = await import("../worker-docker/src/log.ts");
    // The worker says hello before Docker is ready: wait for its pythonExec capability.
    for (let i = 0; ; i++) {
      const r = await request(`${c.url}/api/v1/tasks`, {
        method: "POST",
        headers: auth,
        body: { capability: "pythonExec", input: { code: "print(1)" }, mode: "sync" },
      });
      if (r.status === 200) break;
      if (i > 600) throw new Error(`pythonExec never came up: ${r.status} ${r.body}`);
      await sleep(100);
    }
    phase(`pythonExec, ${PY} each, paced ${PY_PAUSE_MS} ms`);
    const code = { code: "print(1)" };
    const pyMcp = [];
    const pyTask = [];
    for (let round = 0; round < 2; round++) {
      pyMcp.push(await measure(PY / 2, () => mcp("pythonExec", code), workerd.pid, { warm: 2, pauseMs: PY_PAUSE_MS }));
      pyTask.push(await measure(PY / 2, () => task("pythonExec", code), workerd.pid, { warm: 2, pauseMs: PY_PAUSE_MS }));
    }
    const config = parseDockerConfig({ ...process.env, WORKER_ID: `bench-${randomBytes(4).toString("hex")}` });
    const log = createLogger({ component: "bench" }, "error");
    backend = await createDockerBackend(config, log);
    const py = backend.capabilities().find((x) => x.name === "pythonExec");
    const capRun = async () =>
      py.run(code, {
        commandId: `bench-${randomBytes(4).toString("hex")}`,
        deadlineUnixMs: Date.now() + 60_000,
        signal: new AbortController().signal,
        log,
      });
    const cap = await measure(PY, capRun, workerd.pid, { warm: 3, pauseMs: PY_PAUSE_MS });
    const pm = { p50: avg(pyMcp, "p50"), cpu: avg(pyMcp, "cpu") };
    const pt = { p50: avg(pyTask, "p50"), cpu: avg(pyTask, "cpu") };
    rows.push({ call: "pythonExec", path: "worker capability (the run itself)", "p50 ms": fmt(cap.p50), "workerd CPU ms": "—" });
    rows.push({
      call: "pythonExec",
      path: "MCP tools/call (no Task object)",
      "p50 ms": fmt(pm.p50),
      "workerd CPU ms": fmt(pm.cpu),
    });
    rows.push({ call: "pythonExec", path: "REST sync task", "p50 ms": fmt(pt.p50), "workerd CPU ms": fmt(pt.cpu) });
    rows.push({
      call: "pythonExec",
      path: "console + wire + local worker (MCP − capability)",
      "p50 ms": fmt(pm.p50 - cap.p50),
      "workerd CPU ms": "",
    });
    if (FSYNC) {
      const viaMcp = await fsyncsPerCall(workerd.pid, 10, () => mcp("pythonExec", code), PY_PAUSE_MS);
      const viaTask = await fsyncsPerCall(workerd.pid, 10, () => task("pythonExec", code), PY_PAUSE_MS);
      rows.push({
        call: "pythonExec",
        path: "disk flushes per call: MCP / task",
        "p50 ms": `${fmt(viaMcp)} / ${fmt(viaTask)}`,
        "workerd CPU ms": "",
      });
    }
    rows.push({
      call: "pythonExec",
      path: "task path's share (task − MCP)",
      "p50 ms": fmt(pt.p50 - pm.p50),
      "workerd CPU ms": fmt(pt.cpu - pm.cpu),
    });
  }
} finally {
  await backend?.close();
  await c.stop();
}
console.log("\nThe task path's share of a sync call (p50; CPU = workerd's, per call):");
console.table(rows);
