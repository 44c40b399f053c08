#!/usr/bin/env node
// The floor of the console's design, without the console: the same workerd binary runs a
// few lines that do what every echo must do (an HTTP request, one call to a Durable Object
// that holds the worker's WebSocket, a frame out, a frame back), against a bare Node route
// and a bare workerd route, measured side by side. Whatever the console's code does, its
// echo cannot beat the "DO + WebSocket" rows; the ratio row says how far the design alone
// is from the ≤ 2× target. Both WebSocket styles are measured: hibernatable
// (`acceptWebSocket`, what WorkerNode uses) and plain (`accept()`).
//
//   node bench/floor-bench.mjs [--seq 500] [--burst-sec 4]
//
// Sequential p50 over a keep-alive connection, the rows' calls in alternating batches
// (bench/lib.mjs `interleaved`, as the console's table does), then 16 clients for
// --burst-sec seconds (bench/lib.mjs `blast`) with workerd's CPU per request from /proc.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { workerdBinary } from "../scripts/launcher/workerd-runtime.mjs";
import { bareNode, blast, cpuMs, fmt, freePort, interleaved, numberArg, percentile, request, root, sleep } from "./lib.mjs";

const SEQ = numberArg("seq", 500);
const BURST_SEC = numberArg("burst-sec", 4);

const WORKER = `
import { DurableObject } from "cloudflare:workers";
export class Node extends DurableObject {
  pending = new Map();
  seq = 0;
  plain = null;
  async fetch(req) {
    const { 0: client, 1: server } = new WebSocketPair();
    if (new URL(req.url).searchParams.get("style") === "plain") {
      server.accept();
      server.addEventListener("message", (e) => this.settle(e.data));
      this.plain = server;
    } else {
      this.ctx.acceptWebSocket(server);
      server.serializeAttachment({ hello: true });
    }
    return new Response(null, { status: 101, webSocket: client });
  }
  webSocketMessage(ws, data) {
    ws.deserializeAttachment();
    this.settle(data);
  }
  settle(data) {
    const id = new DataView(data).getUint32(0);
    this.pending.get(id)?.(id);
    this.pending.delete(id);
  }
  run() {
    const ws = this.plain ?? this.ctx.getWebSockets()[0];
    const id = ++this.seq;
    const frame = new ArrayBuffer(4);
    new DataView(frame).setUint32(0, id);
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      ws.send(frame);
    });
  }
}
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const node = env.NODE.get(env.NODE.idFromName(url.searchParams.get("style") ?? "hib"));
    if (url.pathname === "/ws") return node.fetch(req);
    if (url.pathname === "/run") return Response.json({ id: await node.run() });
    return Response.json({ ok: true });
  },
};
`;

function config(port) {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = (
    modules = [(name = "worker.js", esModule = embed "worker.js")],
    compatibilityDate = "2025-06-01",
    compatibilityFlags = ["nodejs_compat"],
    durableObjectNamespaces = [(className = "Node", uniqueKey = "floor-bench", enableSql = true)],
    durableObjectStorage = (inMemory = void),
    bindings = [(name = "NODE", durableObjectNamespace = "Node")],
  ))],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
`;
}

async function until(url) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await request(url)).status === 200) return;
    } catch {}
    await sleep(25);
  }
  throw new Error(`${url} did not answer`);
}

/** A socket that answers every frame with itself: the worker at its cheapest. */
function echoWorker(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on("message", (data) => ws.send(data));
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

/** Every call is what an echo is: a POST with a small JSON body. */
const BODY = { message: "bench" };

/** One call of `url` as an echo makes it; a failed call throws. */
const caller = (url) => async () => {
  const r = await request(url, { method: "POST", body: BODY });
  if (r.status !== 200) throw new Error(`${url}: ${r.status} ${r.body}`);
};

const dir = mkdtempSync(path.join(tmpdir(), "onlyboxes-floor-"));
const sockets = [];
let wd;
let bare;
try {
  writeFileSync(path.join(dir, "worker.js"), WORKER);
  const wdPort = await freePort();
  writeFileSync(path.join(dir, "config.capnp"), config(wdPort));
  wd = spawn(workerdBinary(root), ["serve", path.join(dir, "config.capnp")], { stdio: ["ignore", "ignore", "inherit"] });
  bare = await bareNode();
  const wdUrl = `http://127.0.0.1:${wdPort}`;
  await until(`${wdUrl}/`);
  for (const style of ["hib", "plain"]) sockets.push(await echoWorker(`ws://127.0.0.1:${wdPort}/ws?style=${style}`));

  // Sequential p50s in alternating batches (as in bench/table.mjs), so the bare route is
  // as warm as the others and a busy minute falls on every row alike; then each row's burst.
  const paths = [
    ["bare Node route", `${bare.url}/`, bare.pid],
    ["bare workerd route", `${wdUrl}/`, wd.pid],
    ["workerd: DO call + WebSocket round trip (hibernatable)", `${wdUrl}/run?style=hib`, wd.pid],
    ["workerd: DO call + WebSocket round trip (plain accept)", `${wdUrl}/run?style=plain`, wd.pid],
  ];
  const lats = await interleaved(
    paths.map(([, url]) => caller(url)),
    SEQ,
    { warm: 50 },
  );
  const rows = [];
  for (const [i, [label, url, cpuPid]] of paths.entries()) {
    const before = cpuMs(cpuPid);
    const b = await blast({ url, body: BODY, seconds: BURST_SEC });
    rows.push({
      label,
      p50: percentile(lats[i], 50),
      okPerSec: b.ok / b.secs,
      cpu: (cpuMs(cpuPid) - before) / Math.max(1, b.ok),
    });
  }

  const bareP50 = rows[0]?.p50 ?? Number.NaN;
  console.table(
    rows.map((r) => ({
      path: r.label,
      "p50 ms": fmt(r.p50),
      "× bare Node": fmt(r.p50 / bareP50),
      "16 clients ok/s": Math.round(r.okPerSec),
      "server CPU ms/request": fmt(r.cpu),
    })),
  );
  console.log("target for the console's echo: ≤ 2× the bare Node route. The DO + WebSocket rows are the design's floor.");
} finally {
  for (const s of sockets) s.terminate();
  // workerd drains on SIGTERM; nothing here needs draining.
  wd?.kill("SIGKILL");
  bare?.stop();
  rmSync(dir, { recursive: true, force: true });
}
// The keep-alive agent of bench/lib.mjs would hold the process open.
process.exit(0);
