#!/usr/bin/env node
// CPU time per request of each process on the echo path (workerd, the local worker), and
// wall p50, for /healthz, REST echo and MCP echo (with --terminal, also terminalExec `pwd`
// in a warm session, Docker enabled). CPU per request barely moves with the
// machine's load, unlike wall time: the figure to compare before and after a change.
//
//   node bench/cpu-bench.mjs [--n 1000] [--terminal] [--env NAME=value ...]
import {
  childrenOf,
  cpuMs,
  fmt,
  mcpEchoCall,
  numberArg,
  percentile,
  request,
  signInWithToken,
  startConsole,
  terminalPwdCall,
} from "./lib.mjs";

const N = numberArg("n", 1000);

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
  const worker = procs.find((p) => /onlyboxes-worker/.test(p.cmd));
  const calls = {
    healthz: () => request(`${c.url}/healthz`),
    "REST echo": () => request(`${c.url}/api/v1/commands/echo`, { method: "POST", headers: auth, body: { message: "bench" } }),
    "MCP echo": mcpEchoCall(c, auth),
  };
  if (TERMINAL) {
    calls["terminalExec pwd"] = await terminalPwdCall(c, auth);
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
