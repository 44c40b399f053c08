#!/usr/bin/env node
// REST echo through a real worker vs. a baseline route that touches neither a Durable
// Object nor a worker, on the self-hosted runtime; then console/worker memory idle and
// with 200 simulated workers connected. Bounded: stops by itself.
//
//   node bench/echo-bench.mjs [--seq 2000] [--total 6000] [--workers 200]
import { register } from "tsx/esm/api";
import WebSocket from "ws";
import {
  childrenOf,
  concurrent,
  fmt,
  numberArg,
  percentile,
  request,
  rssMiB,
  sequential,
  signInWithToken,
  sleep,
  startConsole,
} from "./lib.mjs";

register();
const { create, toBinary, fromBinary } = await import("@bufbuild/protobuf");
const { ConnectRequestSchema, ConnectResponseSchema } = await import("@onlyboxes/proto");
const { encodeEnvelope } = await import("@connectrpc/connect/protocol");
// The console's own reader: one envelope per WebSocket message.
const { decodeEnvelope, FLAG_END_STREAM } = await import("../console-worker/src/rpc/envelope.ts");

const SEQ = numberArg("seq", 2000);
const TOTAL = numberArg("total", 6000);
const SIM_WORKERS = numberArg("workers", 200);

// One token drives every client and one worker serves them: lift the per-account run
// limit and the console's cap on a worker's slots above the client count.
const c = await startConsole({
  WORKER_DOCKER_ENABLED: "false",
  WORKER_MAX_INFLIGHT: "256",
  CONSOLE_WORKER_MAX_INFLIGHT: "256",
  CONSOLE_ACCOUNT_MAX_RUNS: "256",
});
try {
  const { cookie, token } = await signInWithToken(c);
  const procs = childrenOf(c.child.pid);
  const workerd = procs.find((p) => /workerd/.test(p.cmd));
  const worker = procs.find((p) => /onlyboxes-worker/.test(p.cmd));
  const echo = () =>
    request(`${c.url}/api/v1/commands/echo`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: { message: "bench" },
    });
  const base = () => request(`${c.url}/healthz`);

  const phase = (name) => process.stderr.write(`bench: ${name}\n`);
  phase("warm-up");
  // Warm up both paths (isolates, Durable Objects, keep-alive sockets).
  await sequential(300, echo);
  await sequential(300, base);

  phase("sequential");
  const baseSeq = await sequential(SEQ, base);
  const echoSeq = await sequential(SEQ, echo);
  const rows = [];
  rows.push([
    "sequential p50 ms",
    fmt(percentile(baseSeq, 50)),
    fmt(percentile(echoSeq, 50)),
    fmt(percentile(echoSeq, 50) / percentile(baseSeq, 50)),
  ]);
  rows.push([
    "sequential p99 ms",
    fmt(percentile(baseSeq, 99)),
    fmt(percentile(echoSeq, 99)),
    fmt(percentile(echoSeq, 99) / percentile(baseSeq, 99)),
  ]);
  const echoRps = {};
  for (const conc of [16, 64]) {
    phase(`concurrency ${conc}`);
    const b = await concurrent(TOTAL, conc, base);
    const e = await concurrent(TOTAL, conc, echo);
    echoRps[conc] = e.rps;
    rows.push([`${conc} concurrent req/s`, fmt(b.rps), fmt(e.rps), fmt(e.rps / b.rps)]);
    rows.push([`${conc} concurrent p50 ms`, fmt(b.p50), fmt(e.p50), fmt(e.p50 / b.p50)]);
    if (b.errors || e.errors) rows.push([`${conc} concurrent errors`, String(b.errors), String(e.errors), ""]);
  }
  console.log(
    `\nREST echo through a real worker vs. baseline (/healthz), self-hosted runtime, ${SEQ} sequential, ${TOTAL} per concurrency level`,
  );
  console.table(rows.map(([what, baseline, echoV, ratio]) => ({ what, baseline, echo: echoV, "echo/baseline": ratio })));

  await sleep(2000);
  const mem = () => ({
    launcher: rssMiB(c.child.pid),
    workerd: workerd ? rssMiB(workerd.pid) : Number.NaN,
    worker: worker ? rssMiB(worker.pid) : Number.NaN,
  });
  const idle = mem();

  // 200 simulated workers: provisioned through the admin API, each holding one authenticated socket.
  const envelope = (msg) => encodeEnvelope(0, toBinary(ConnectRequestSchema, create(ConnectRequestSchema, msg)));
  phase(`${SIM_WORKERS} simulated workers`);
  const sockets = [];
  const acked = [];
  for (let i = 0; i < SIM_WORKERS; i++) {
    const r = await request(`${c.url}/api/v1/workers`, { method: "POST", headers: { cookie } });
    const cmd = JSON.parse(r.body).command;
    const id = /WORKER_ID=(\S+)/.exec(cmd)[1];
    const secret = /WORKER_SECRET=(\S+)/.exec(cmd)[1];
    const ws = new WebSocket(`${c.url.replace("http", "ws")}/rpc/onlyboxes.registry.v1.WorkerRegistryService/Connect`, {
      headers: { authorization: `Bearer ${secret}`, "x-onlyboxes-worker-id": id },
    });
    sockets.push(ws);
    acked.push(
      new Promise((resolve, reject) => {
        ws.on("error", reject);
        ws.on("open", () =>
          ws.send(
            envelope({
              payload: {
                case: "hello",
                value: {
                  nodeId: id,
                  nodeName: `sim-${i}`,
                  executorKind: "sim",
                  version: "bench",
                  capabilities: [{ name: "echo", maxInflight: 1 }],
                  workerSecret: secret,
                },
              },
            }),
          ),
        );
        ws.on("message", (data) => {
          const { flags, payload } = decodeEnvelope(data);
          if (flags & FLAG_END_STREAM) return;
          const msg = fromBinary(ConnectResponseSchema, payload);
          if (msg.payload.case === "connectAck") resolve();
        });
      }),
    );
  }
  await Promise.all(acked);
  const stats = JSON.parse((await request(`${c.url}/api/v1/workers/stats`, { headers: { cookie } })).body);
  await sleep(3000);
  const loaded = mem();
  console.log(`\nmemory (RSS MiB): idle vs. ${SIM_WORKERS} simulated workers connected (console reports ${stats.online} online)`);
  console.table([
    { process: "console: workerd", idle: fmt(idle.workerd), loaded: fmt(loaded.workerd) },
    { process: "console: launcher (node + Miniflare)", idle: fmt(idle.launcher), loaded: fmt(loaded.launcher) },
    { process: "worker (local, echo only)", idle: fmt(idle.worker), loaded: fmt(loaded.worker) },
  ]);
  for (const ws of sockets) ws.terminate();
  const p50ratio = percentile(echoSeq, 50) / percentile(baseSeq, 50);
  console.log(`\ngoals: echo p50 <= 3x baseline p50: ${p50ratio <= 3 ? "met" : "NOT met"} (${fmt(p50ratio)}x)`);
  console.log(`goals: >= 1000 echo/s at 16 concurrent: ${echoRps[16] >= 1000 ? "met" : "NOT met"} (${fmt(echoRps[16])}/s)`);
} catch (err) {
  process.stderr.write(
    `${c
      .output()
      .split("\n")
      .filter((l) => !l.startsWith('{"time'))
      .slice(-30)
      .join("\n")}\n`,
  );
  throw err;
} finally {
  await c.stop();
}
