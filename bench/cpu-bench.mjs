#!/usr/bin/env node
// CPU time per request of each process on the echo path (workerd, the local worker), and
// wall p50, for /healthz, REST echo and MCP echo (with --terminal, also terminalExec `pwd`
// in a warm session, Docker enabled). CPU per request barely moves with the
// machine's load, unlike wall time: the figure to compare before and after a change.
//
//   node bench/cpu-bench.mjs [--n 1000] [--terminal] [--env NAME=value ...]
import { readFileSync } from "node:fs";
import { childrenOf, fmt, numberArg, percentile, request, signInWithToken, sleep, startConsole } from "./lib.mjs";

const N = numberArg("n", 1000);
const TICK_MS = 10; // USER_HZ = 100 on Linux

/** user+system CPU ms of a process, from /proc. */
function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) * TICK_MS;
}

const extraEnv = Object.fromEntries(
  process.argv.flatMap((a, i) => (process.argv[i - 1] === "--env" ? [a.split(/=(.*)/s).slice(0, 2)] : [])),
);
const TERMINAL = process.argv.includes("--terminal");
const c = await startConsole({ WORKER_DOCKER_ENABLED: TERMINAL ? "true" : "false", ...extraEnv });
try {
  const { token } = await signInWithToken(c);
  const auth = { authorization: `Bearer ${token}` };
  const procs = childrenOf(c.child.pid);
  const workerd = procs.find((p) => /workerd/.test(p.cmd));
  const worker = procs.find((p) => /worker/.test(p.cmd) && p !== workerd);
  let id = 0;
  const calls = {
    healthz: () => request(`${c.url}/healthz`),
    "REST echo": () => request(`${c.url}/api/v1/commands/echo`, { method: "POST", headers: auth, body: { message: "bench" } }),
    "MCP echo": () =>
      request(`${c.url}/mcp`, {
        method: "POST",
        headers: { ...auth, accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18" },
        body: { jsonrpc: "2.0", id: ++id, method: "tools/call", params: { name: "echo", arguments: { message: "bench" } } },
      }),
  };
  if (TERMINAL) {
    const terminal = (body) => request(`${c.url}/api/v1/commands/terminal`, { method: "POST", headers: auth, body });
    // The worker says hello before Docker is ready: wait for its terminal capability.
    let first = await terminal({ command: "true", lease_ttl_sec: 600 });
    for (let i = 0; i < 600 && first.status !== 200; i++) {
      await sleep(100);
      first = await terminal({ command: "true", lease_ttl_sec: 600 });
    }
    const sessionId = JSON.parse(first.body).session_id;
    calls["terminalExec pwd"] = () => terminal({ session_id: sessionId, command: "pwd" });
  }
  const rows = [];
  for (const [name, fn] of Object.entries(calls)) {
    for (let i = 0; i < 100; i++) await fn();
    const w0 = cpuMs(workerd.pid);
    const k0 = worker ? cpuMs(worker.pid) : 0;
    const lat = [];
    for (let i = 0; i < N; i++) {
      const r = await fn();
      if (r.status !== 200) throw new Error(`${name}: ${r.status} ${r.body}`);
      lat.push(r.ms);
    }
    const conc = [];
    const t0 = performance.now();
    // One session runs one command at a time: its calls are not repeated by 16 clients.
    let done = name.startsWith("terminal") ? N : 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (done < N) {
          done++;
          const r = await fn();
          if (r.status !== 200) conc.push(r.status);
        }
      }),
    );
    const rps = N / ((performance.now() - t0) / 1000);
    const calls2 = name.startsWith("terminal") ? N : 2 * N;
    lat.sort((a, b) => a - b);
    rows.push({
      call: name,
      "wall p50 ms": fmt(percentile(lat, 50)),
      "workerd CPU ms/req": fmt((cpuMs(workerd.pid) - w0) / calls2),
      "worker CPU ms/req": fmt(worker ? (cpuMs(worker.pid) - k0) / calls2 : Number.NaN),
      "16 clients ok/s": name.startsWith("terminal") ? "-" : Math.round(rps),
      "16 clients non-2xx": conc.length,
    });
  }
  console.table(rows);
} finally {
  await c.stop();
}
