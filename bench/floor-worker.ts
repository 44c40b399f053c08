// The workerd script of bench/floor-bench.mjs (bundled there with esbuild): what every echo
// must do, without the console. Routes:
//   /                a bare workerd route;
//   /ws?style=S      a peer's WebSocket, held by the Durable Object named S (hib: hibernatable,
//                    `acceptWebSocket`, what WorkerNode uses; plain: `accept()`; lean: hibernatable,
//                    carrying the real wire);
//   /run?style=S     one call to that object, which sends a 4-byte frame and waits for it back;
//   /echo            the least any echo of the API contract can do on this design: the
//                    bearer token hashed with the console's HMAC (tokens are stored hashed) and
//                    compared in memory, the JSON body parsed and its message checked, one call to the
//                    object, which sends a commandDispatch on the product's own wire codec
//                    (protobuf and a Connect envelope, console-worker/src/rpc/envelope.ts) and
//                    decodes the peer's commandResult, and `{message}` as JSON.
// No limits, no admission, no logging, no metrics, no security headers, no timers.

import { DurableObject } from "cloudflare:workers";
import { create } from "@bufbuild/protobuf";
import { ConnectResponseSchema } from "@onlyboxes/proto";
import { hmacHex } from "../console-worker/src/lib/crypto.ts";
import { decodeRequest, encodeResponse } from "../console-worker/src/rpc/envelope.ts";

interface Env {
  NODE: DurableObjectNamespace<Node>;
  /** The bench's bearer token: its HMAC is the one known token hash. */
  TOKEN: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Node extends DurableObject<Env> {
  private readonly pending = new Map<string | number, (value: string) => void>();
  private seq = 0;
  private plain: WebSocket | null = null;
  private live: WebSocket | null = null;

  override async fetch(req: Request): Promise<Response> {
    const { 0: client, 1: server } = new WebSocketPair();
    if (new URL(req.url).searchParams.get("style") === "plain") {
      server.accept();
      server.addEventListener("message", (e) => this.settleProbe(e.data as ArrayBuffer));
      this.plain = server;
    } else {
      this.ctx.acceptWebSocket(server);
      server.serializeAttachment({ hello: true });
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  override webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): void {
    ws.deserializeAttachment();
    if (typeof data === "string") return;
    if (data.byteLength === 4) {
      this.settleProbe(data);
      return;
    }
    const req = decodeRequest(new Uint8Array(data));
    if (req?.payload.case !== "commandResult") return;
    const r = req.payload.value;
    this.pending.get(r.commandId)?.(decoder.decode(r.payloadJson));
    this.pending.delete(r.commandId);
  }

  private settleProbe(data: ArrayBuffer): void {
    const id = new DataView(data).getUint32(0);
    this.pending.get(id)?.("");
    this.pending.delete(id);
  }

  private socket(): WebSocket {
    this.live ??= this.ctx.getWebSockets()[0] ?? null;
    if (!this.live) throw new Error("no peer");
    return this.live;
  }

  /** A 4-byte frame out, the same back: the floor's round trip. */
  run(): Promise<number> {
    const ws = this.plain ?? this.socket();
    const id = ++this.seq;
    const frame = new ArrayBuffer(4);
    new DataView(frame).setUint32(0, id);
    return new Promise((resolve) => {
      this.pending.set(id, () => resolve(id));
      ws.send(frame);
    });
  }

  /** A commandDispatch out, a commandResult back; answers the result's JSON. */
  dispatch(capability: string, payloadJson: string, deadlineUnixMs: number): Promise<string> {
    const ws = this.socket();
    const commandId = `cmd_${++this.seq}`;
    return new Promise((resolve) => {
      this.pending.set(commandId, resolve);
      ws.send(
        encodeResponse(
          create(ConnectResponseSchema, {
            payload: {
              case: "commandDispatch",
              value: {
                commandId,
                capability,
                payloadJson: encoder.encode(payloadJson),
                deadlineUnixMs: BigInt(deadlineUnixMs),
                streamOutput: false,
              },
            },
          }),
        ),
      );
    });
  }
}

/** The hash key the bench's token is stored under (the console's is CONSOLE_HASH_KEY). */
const HASH_KEY = "floor-bench";
let tokenHash: string | null = null;

async function leanEcho(req: Request, env: Env): Promise<Response> {
  const token = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "")?.[1];
  tokenHash ??= await hmacHex(HASH_KEY, env.TOKEN);
  if (!token || (await hmacHex(HASH_KEY, token)) !== tokenHash) return Response.json({ error: "invalid token" }, { status: 401 });
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return Response.json({ error: "body is not JSON" }, { status: 400 });
  }
  const message = (body as { message?: unknown } | null)?.message;
  if (typeof message !== "string" || message.trim() === "")
    return Response.json({ error: "message must be a non-blank string" }, { status: 400 });
  const node = env.NODE.get(env.NODE.idFromName("lean"));
  const result = JSON.parse(await node.dispatch("echo", JSON.stringify({ message }), Date.now() + 5000)) as { message: string };
  return Response.json({ message: result.message });
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === "/echo") return leanEcho(req, env);
    const node = env.NODE.get(env.NODE.idFromName(url.searchParams.get("style") ?? "hib"));
    if (url.pathname === "/ws") return node.fetch(req);
    if (url.pathname === "/run") return Response.json({ id: await node.run() });
    return Response.json({ ok: true });
  },
} satisfies ExportedHandler<Env>;
