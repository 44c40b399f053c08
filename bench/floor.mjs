// The floors of the console's echo, without the console (used by bench/floor-bench.mjs and
// bench/table.mjs): the same workerd binary runs bench/floor-worker.ts, with peers in this
// process standing in for the worker. `startFloor()` answers the URLs to call:
// - `bareWorkerd`: a workerd route that answers at once;
// - `roundTrip.hib` / `roundTrip.plain`: an HTTP request, one call to a Durable Object that
//   holds a peer's WebSocket, a 4-byte frame out, the same back (hibernatable, as WorkerNode
//   holds its socket, or plain `accept()`): what every echo must do;
// - `lean`: the least an echo of the API contract can do on this design (the bearer token's
//   HMAC, the body parsed and checked, the product's protobuf wire both ways, a peer that
//   decodes the dispatch and encodes a result, `{message}` back; called with `auth`).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import WebSocket from "ws";
import { workerdBinary } from "../scripts/launcher/workerd-runtime.mjs";
import { freePort, request, root, sleep } from "./lib.mjs";

function config(port, token) {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = (
    modules = [(name = "worker.js", esModule = embed "worker.js")],
    compatibilityDate = "2025-06-01",
    compatibilityFlags = ["nodejs_compat"],
    durableObjectNamespaces = [(className = "Node", uniqueKey = "floor-bench", enableSql = true)],
    durableObjectStorage = (inMemory = void),
    bindings = [(name = "NODE", durableObjectNamespace = "Node"), (name = "TOKEN", text = "${token}")],
  ))],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
`;
}

/** Bundles one of bench/'s TypeScript files into `outfile` (the workspace packages resolved as the product resolves them). */
function bundle(entry, outfile, platform) {
  return build({
    entryPoints: [path.join(root, "bench", entry)],
    outfile,
    bundle: true,
    format: "esm",
    platform,
    ...(platform === "neutral" ? { mainFields: ["module", "main"], conditions: ["workerd", "worker"] } : {}),
    external: ["cloudflare:*"],
    logLevel: "warning",
  });
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

/** A peer socket at `url`; each binary message gets `reply(data)` back, unless that is null. */
function peer(url, reply) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on("message", (data) => {
      const out = reply(data);
      if (out) ws.send(out);
    });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

/** Starts workerd with the floor script and its peers; answers `{ pid, bareWorkerd, roundTrip, lean, auth, stop() }`. */
export async function startFloor() {
  const dir = mkdtempSync(path.join(tmpdir(), "onlyboxes-floor-"));
  const token = `obt_${randomBytes(24).toString("hex")}`;
  const sockets = [];
  let wd = null;
  const stop = () => {
    for (const s of sockets) s.terminate();
    // workerd drains on SIGTERM; nothing here needs draining.
    wd?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await bundle("floor-worker.ts", path.join(dir, "worker.js"), "neutral");
    await bundle("floor-peer.ts", path.join(dir, "peer.mjs"), "node");
    const { answer } = await import(pathToFileURL(path.join(dir, "peer.mjs")).href);
    const port = await freePort();
    writeFileSync(path.join(dir, "config.capnp"), config(port, token));
    wd = spawn(workerdBinary(root), ["serve", path.join(dir, "config.capnp")], { stdio: ["ignore", "ignore", "inherit"] });
    const url = `http://127.0.0.1:${port}`;
    await until(`${url}/`);
    for (const style of ["hib", "plain"]) sockets.push(await peer(`ws://127.0.0.1:${port}/ws?style=${style}`, (data) => data));
    sockets.push(await peer(`ws://127.0.0.1:${port}/ws?style=lean`, answer));
    return {
      pid: wd.pid,
      bareWorkerd: `${url}/`,
      roundTrip: { hib: `${url}/run?style=hib`, plain: `${url}/run?style=plain` },
      lean: `${url}/echo`,
      auth: { authorization: `Bearer ${token}` },
      stop,
    };
  } catch (err) {
    stop();
    throw err;
  }
}
