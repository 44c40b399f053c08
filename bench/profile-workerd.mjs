#!/usr/bin/env node
// Where workerd's CPU goes on one kind of request: starts the console with workerd's V8
// inspector on loopback, samples a CPU profile while the request repeats, and prints the
// functions with the most self time and the most inclusive time.
//
// Read it with care: the sampler charges time spent in workerd's own machinery (I/O
// contexts, RPC, promise plumbing) to whichever JS frame is nearby. `perf record -g -p
// <workerd pid>` showed JS code at under a fifth of an echo's CPU, and an A/B that doubles
// a suspect piece (two consoles side by side, alternating batches, CPU from /proc) is
// the test that settles whether it matters.
//
//   node bench/profile-workerd.mjs [--n 2000] [--call echo|healthz|mcp|task|terminal] [--top 40]
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import WebSocket from "ws";
import { freePort, mcpEchoCall, numberArg, request, signInWithToken, startConsole, terminalPwdCall } from "./lib.mjs";

const N = numberArg("n", 2000);
const TOP = numberArg("top", 40);
const CALL = process.argv[process.argv.indexOf("--call") + 1] ?? "echo";
const callName = process.argv.includes("--call") ? CALL : "echo";

const inspectPort = await freePort();
const c = await startConsole({
  WORKER_DOCKER_ENABLED: callName === "terminal" ? "true" : "false",
  ONLYBOXES_WORKERD_INSPECTOR_ADDR: `127.0.0.1:${inspectPort}`,
});
try {
  const { token } = await signInWithToken(c);
  const auth = { authorization: `Bearer ${token}` };
  let call;
  if (callName === "healthz") call = () => request(`${c.url}/healthz`);
  else if (callName === "echo")
    call = () => request(`${c.url}/api/v1/commands/echo`, { method: "POST", headers: auth, body: { message: "bench" } });
  else if (callName === "task")
    call = () =>
      request(`${c.url}/api/v1/tasks`, {
        method: "POST",
        headers: auth,
        body: { capability: "echo", input: { message: "bench" }, mode: "sync" },
      });
  else if (callName === "mcp") call = mcpEchoCall(c, auth);
  else if (callName === "terminal") call = await terminalPwdCall(c, auth);
  else throw new Error(`unknown --call ${callName}`);

  for (let i = 0; i < 200; i++) await call();

  const list = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json();
  const target = list[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r, j) => {
    ws.once("open", r);
    ws.once("error", j);
  });
  let seq = 0;
  const pending = new Map();
  ws.on("message", (m) => {
    const msg = JSON.parse(String(m));
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  const send = (method, params = {}) =>
    new Promise((r) => {
      const mid = ++seq;
      pending.set(mid, r);
      ws.send(JSON.stringify({ id: mid, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 50 });
  await send("Profiler.start");
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await call();
  const wall = performance.now() - t0;
  const { result } = await send("Profiler.stop");
  ws.close();
  const profile = result.profile;
  const file = `/tmp/workerd-${callName}-${randomBytes(3).toString("hex")}.cpuprofile`;
  writeFileSync(file, JSON.stringify(profile));

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const ch of n.children ?? []) parent.set(ch, n.id);
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
  }
  const label = (n) => {
    const f = n.callFrame;
    const file = f.url ? f.url.split("/").pop() : "";
    return `${f.functionName || "(anon)"} ${file}:${f.lineNumber + 1}`;
  };
  const selfBy = new Map();
  const inclBy = new Map();
  let total = 0;
  let idle = 0;
  for (const [nid, ms] of self) {
    const n = byId.get(nid);
    total += ms;
    if (n.callFrame.functionName === "(idle)") idle += ms;
    const l = label(n);
    selfBy.set(l, (selfBy.get(l) ?? 0) + ms);
    const seen = new Set();
    for (let cur = nid; cur !== undefined; cur = parent.get(cur)) {
      const cl = label(byId.get(cur));
      if (seen.has(cl)) continue;
      seen.add(cl);
      inclBy.set(cl, (inclBy.get(cl) ?? 0) + ms);
    }
  }
  const per = (ms) => ((ms / N) * 1000).toFixed(0).padStart(6);
  console.log(
    `${callName}: ${N} calls, ${(wall / N).toFixed(2)} ms wall each; sampled ${((total - idle) / N).toFixed(3)} ms busy per call (profile ${file})`,
  );
  console.log("\nself µs/call  function");
  for (const [l, ms] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${per(ms)}  ${l}`);
  console.log("\ninclusive µs/call  function");
  for (const [l, ms] of [...inclBy].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${per(ms)}  ${l}`);
} finally {
  await c.stop();
}
