#!/usr/bin/env node
// Two builds of the console side by side, in the same minutes: starts one console per
// bundle directory (a folder the launcher bundled, e.g. node_modules/.cache/onlyboxes/
// console-*; copy it aside before changing the sources) and alternates batches of one
// kind of call between them, so load from anything else falls on both alike. Prints
// workerd and local-worker CPU per call (from /proc) and wall p50 for each.
//
//   node bench/ab-bench.mjs DIR_A DIR_B [echo|mcp|terminal] [rounds]
import { childrenOf, cpuMs as cpu, mcpEchoCall, request, signInWithToken, startConsole, terminalPwdCall } from "./lib.mjs";

const [dirA, dirB, kind = "echo", roundsArg = "6"] = process.argv.slice(2);
const docker = kind === "terminal";
/** Consoles started so far, stopped at the end even when a setup fails half way. */
const started = [];
async function setup(dir) {
  const c = await startConsole({
    CONSOLE_BUNDLE_DIR: dir,
    WORKER_DOCKER_ENABLED: docker ? "true" : "false",
    WORKER_PYTHON_EXEC_POOL_SIZE: "0",
  });
  started.push(c);
  const { token } = await signInWithToken(c);
  const auth = { authorization: `Bearer ${token}` };
  const procs = childrenOf(c.child.pid);
  const workerd = procs.find((p) => /workerd/.test(p.cmd));
  const worker = procs.find((p) => /onlyboxes-worker/.test(p.cmd));
  let call;
  if (kind === "echo")
    call = () => request(`${c.url}/api/v1/commands/echo`, { method: "POST", headers: auth, body: { message: "bench" } });
  else if (kind === "mcp") call = mcpEchoCall(c, auth);
  else call = await terminalPwdCall(c, auth);
  for (let i = 0; i < 200; i++) {
    const r = await call();
    if (r.status !== 200) throw new Error(r.body);
  }
  return { c, call, workerd, worker, w: 0, k: 0, n: 0, lat: [] };
}
try {
  const A = await setup(dirA);
  const B = await setup(dirB);
  const N = kind === "terminal" ? 150 : 300;
  for (let r = 0; r < Number(roundsArg); r++)
    for (const s of r % 2 ? [B, A] : [A, B]) {
      const w0 = cpu(s.workerd.pid),
        k0 = cpu(s.worker.pid);
      for (let i = 0; i < N; i++) {
        const res = await s.call();
        if (res.status !== 200) throw new Error(res.body);
        s.lat.push(res.ms);
      }
      s.w += cpu(s.workerd.pid) - w0;
      s.k += cpu(s.worker.pid) - k0;
      s.n += N;
    }
  for (const [name, s] of [
    ["A", A],
    ["B", B],
  ]) {
    s.lat.sort((a, b) => a - b);
    console.log(
      `${name} ${kind}: workerd ${(s.w / s.n).toFixed(3)} ms/req, worker ${(s.k / s.n).toFixed(3)}, p50 ${s.lat[s.lat.length >> 1].toFixed(2)} ms (n=${s.n})`,
    );
  }
} finally {
  for (const c of started) await c.stop();
}
