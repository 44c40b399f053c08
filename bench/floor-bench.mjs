#!/usr/bin/env node
// The floors of the console's echo, without the console (bench/floor.mjs): a bare Node route,
// a bare workerd route, the design's round trip (an HTTP request, one call to a Durable
// Object holding a peer's WebSocket, a frame out and back; hibernatable, as WorkerNode holds
// its socket, and plain `accept()`), and the lean echo (the least an echo of the API
// contract can do on this design: the bearer token's HMAC, the body checked, the product's
// protobuf wire both ways). Whatever the console's code does, its echo cannot beat the
// round-trip rows; the ratio column says how far each is from the ≤ 2× target.
//
//   node bench/floor-bench.mjs [--seq 500] [--burst-sec 4]
//
// Sequential p50 over a keep-alive connection, the rows' calls in alternating batches
// (bench/lib.mjs `interleaved`, as the console's table does), then 16 clients for
// --burst-sec seconds (bench/lib.mjs `blast`) with the server's CPU per request from /proc
// (workerd's; the peers share this process with the load generator, so theirs is not told).
import { startFloor } from "./floor.mjs";
import { bareNode, blast, cpuMs, fmt, interleaved, numberArg, percentile, request } from "./lib.mjs";

const SEQ = numberArg("seq", 500);
const BURST_SEC = numberArg("burst-sec", 4);

/** Every call is what an echo is: a POST with a small JSON body. */
const BODY = { message: "bench" };

/** One call of `url` as an echo makes it; a failed call throws. */
const caller = (url, headers) => async () => {
  const r = await request(url, { method: "POST", headers, body: BODY });
  if (r.status !== 200) throw new Error(`${url}: ${r.status} ${r.body}`);
};

let floor;
let bare;
try {
  floor = await startFloor();
  bare = await bareNode();
  // Sequential p50s in alternating batches (as in bench/table.mjs), so the bare route is
  // as warm as the others and a busy minute falls on every row alike; then each row's burst.
  const paths = [
    ["bare Node route", `${bare.url}/`, bare.pid],
    ["bare workerd route", floor.bareWorkerd, floor.pid],
    ["workerd: DO call + WebSocket round trip (hibernatable)", floor.roundTrip.hib, floor.pid],
    ["workerd: DO call + WebSocket round trip (plain accept)", floor.roundTrip.plain, floor.pid],
    ["workerd: lean echo (HMAC bearer, JSON checked, protobuf wire both ways)", floor.lean, floor.pid, floor.auth],
  ];
  const lats = await interleaved(
    paths.map(([, url, , headers]) => caller(url, headers)),
    SEQ,
    { warm: 50 },
  );
  const rows = [];
  for (const [i, [label, url, cpuPid, headers]] of paths.entries()) {
    const before = cpuMs(cpuPid);
    const b = await blast({ url, headers, body: BODY, seconds: BURST_SEC });
    if (b.statuses.size > 0) throw new Error(`${label}: ${[...b.statuses].map(([st, n]) => `${n} × ${st}`).join(", ")}`);
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
  console.log(
    "target for the console's echo: ≤ 2× the bare Node route. The round-trip rows are the design's floor; the lean echo, the least the contract's echo can cost on it.",
  );
} finally {
  floor?.stop();
  bare?.stop();
}
// The keep-alive agent of bench/lib.mjs would hold the process open.
process.exit(0);
