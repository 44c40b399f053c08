/**
 * The worker's WebSocket transport against a real `ws` server in this process. The server
 * side frames with the console's own envelope code, so these tests also pin the wire bytes
 * both sides must agree on: one envelope per binary message, flag 0x02 = end-stream JSON.
 */
import type { AddressInfo } from "node:net";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWritableIterable } from "@connectrpc/connect/protocol";
import {
  type ConnectRequest,
  type ConnectRequestSchema,
  type ConnectResponse,
  ConnectResponseSchema,
  WorkerRegistryService,
} from "@onlyboxes/proto";
import { afterEach, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import { decodeEnvelope, decodeRequest, encodeEndStream, encodeResponse } from "../../../console-worker/src/rpc/envelope.ts";
import { createWebSocketTransport } from "../../src/rpc/ws-transport.ts";

type Request = MessageInitShape<typeof ConnectRequestSchema>;

/** What the server saw on one connection. */
interface ServerSide {
  socket: WebSocket;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Raw binary messages in arrival order. */
  raw: Buffer[];
  closed: Promise<number>;
}

let server: WebSocketServer | undefined;

afterEach(async () => {
  for (const c of server?.clients ?? []) c.terminate();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** Starts a server; `verify` may refuse the upgrade with a status and JSON body. */
async function startServer(refuse?: { status: number; body: string }): Promise<{
  base: string;
  next: () => Promise<ServerSide>;
}> {
  const waiting: Array<(s: ServerSide) => void> = [];
  const ready: ServerSide[] = [];
  const srv = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    verifyClient: refuse ? (_info, cb) => cb(false, refuse.status, refuse.body) : undefined,
  });
  server = srv;
  srv.on("connection", (socket, req) => {
    const side: ServerSide = {
      socket,
      url: req.url ?? "",
      headers: req.headers,
      raw: [],
      closed: new Promise((r) => socket.on("close", (code) => r(code))),
    };
    socket.on("message", (data: Buffer) => side.raw.push(data));
    const w = waiting.shift();
    if (w) w(side);
    else ready.push(side);
  });
  await new Promise<void>((r) => srv.once("listening", () => r()));
  const port = (srv.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    next: () => {
      const s = ready.shift();
      return s ? Promise.resolve(s) : new Promise((r) => waiting.push(r));
    },
  };
}

/** Polls `cond` on the event loop until it holds (bounded). */
async function until(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

function hello(nodeId: string): Request {
  return { payload: { case: "hello", value: { nodeId, capabilities: [{ name: "echo", maxInflight: 2 }] } } };
}

function response(payload: MessageInitShape<typeof ConnectResponseSchema>["payload"]): Uint8Array {
  return encodeResponse(create(ConnectResponseSchema, { payload }));
}

/** Opens the worker stream with an outbound queue the test writes to. */
function open(base: string, signal?: AbortSignal) {
  const client = createClient(
    WorkerRegistryService,
    createWebSocketTransport({ baseUrl: base, headers: { authorization: "Bearer s3cret" } }),
  );
  const outbound = createWritableIterable<Request>();
  const received: ConnectResponse[] = [];
  const done = (async () => {
    for await (const m of client.connect(outbound, signal ? { signal } : {})) received.push(m);
  })().then(
    () => null,
    (err: unknown) => ConnectError.from(err),
  );
  return { outbound, received, done };
}

describe("ws-transport", { timeout: 10_000 }, () => {
  it("sends one envelope per message, each decodable by the console, and ends with an empty end-stream", async () => {
    const s = await startServer();
    const c = open(s.base);
    const side = await s.next();
    expect(side.url).toBe("/rpc/onlyboxes.registry.v1.WorkerRegistryService/Connect");
    expect(side.headers.authorization).toBe("Bearer s3cret");

    void c.outbound.write(hello("node-a"));
    void c.outbound.write({ payload: { case: "heartbeat", value: { nodeId: "node-a", sessionId: "s1" } } });
    await until(() => side.raw.length === 2, "two messages");
    const decoded = side.raw.map((b) => decodeRequest(new Uint8Array(b)) as ConnectRequest);
    expect(decoded.map((r) => r.payload.case)).toEqual(["hello", "heartbeat"]);
    expect(decoded[0]?.payload.value).toMatchObject({ nodeId: "node-a", capabilities: [{ name: "echo", maxInflight: 2 }] });
    // The header is exactly 5 bytes: flags 0, big-endian length of the rest.
    const first = side.raw[0] ?? Buffer.alloc(0);
    expect(first[0]).toBe(0);
    expect(first.readUInt32BE(1)).toBe(first.length - 5);

    c.outbound.close();
    await until(() => side.raw.length === 3, "the end-stream envelope");
    const last = decodeEnvelope(new Uint8Array(side.raw[2] ?? Buffer.alloc(0)));
    expect(last.flags).toBe(0x02);
    expect(Buffer.from(last.payload).toString()).toBe("{}");
    expect(await side.closed).toBe(1000);
  });

  it("delivers the console's messages in order and ends cleanly at an empty end-stream", async () => {
    const s = await startServer();
    const c = open(s.base);
    const side = await s.next();
    side.socket.send(response({ case: "connectAck", value: { sessionId: "s1", heartbeatIntervalSec: 5 } }));
    side.socket.send(response({ case: "heartbeatAck", value: {} }));
    side.socket.send(response({ case: "commandCancel", value: { commandId: "cmd-1", reason: "caller left" } }));
    side.socket.send(Buffer.from([0x02, 0, 0, 0, 2, 0x7b, 0x7d])); // end-stream "{}"
    expect(await c.done).toBeNull();
    expect(c.received.map((m) => m.payload.case)).toEqual(["connectAck", "heartbeatAck", "commandCancel"]);
    expect(c.received[2]?.payload.value).toMatchObject({ commandId: "cmd-1", reason: "caller left" });
  });

  it("reads envelopes a frame splits or joins, and fails on a message that is not protobuf", async () => {
    const s = await startServer();
    const c = open(s.base);
    const side = await s.next();
    const ack = Buffer.from(response({ case: "connectAck", value: { sessionId: "s1", heartbeatIntervalSec: 5 } }));
    const beat = Buffer.from(response({ case: "heartbeatAck", value: {} }));
    // One envelope in three frames, then two envelopes in one frame.
    side.socket.send(ack.subarray(0, 3));
    side.socket.send(ack.subarray(3, 9));
    side.socket.send(ack.subarray(9));
    side.socket.send(Buffer.concat([beat, beat]));
    await until(() => c.received.length === 3, "three messages");
    expect(c.received.map((m) => m.payload.case)).toEqual(["connectAck", "heartbeatAck", "heartbeatAck"]);
    // A data envelope whose body is not a ConnectResponse (field 1 with wire type 7).
    side.socket.send(Buffer.from([0x00, 0, 0, 0, 1, 0x0f]));
    const err = await c.done;
    expect(err?.code).toBe(Code.Internal);
    expect(err?.rawMessage).toMatch(/parse binary/);
    expect(await side.closed).toBe(1006);
  });

  it("throws the error carried by the console's end-stream trailer", async () => {
    const s = await startServer();
    const c = open(s.base);
    const side = await s.next();
    side.socket.send(response({ case: "connectAck", value: { sessionId: "s1" } }));
    side.socket.send(encodeEndStream("permission_denied", "worker credential revoked"));
    side.socket.close(4003, "worker credential revoked");
    const err = await c.done;
    expect(err?.code).toBe(Code.PermissionDenied);
    expect(err?.rawMessage).toBe("worker credential revoked");
    expect(c.received).toHaveLength(1);
  });

  it("fails with unavailable, naming the close code, when the socket closes without a trailer", async () => {
    const s = await startServer();
    const c = open(s.base);
    const side = await s.next();
    side.socket.close(4001, "missed heartbeats");
    const err = await c.done;
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.rawMessage).toBe("connection closed (4001 missed heartbeats)");
  });

  it("treats a text frame as a protocol error and drops the connection", async () => {
    const s = await startServer();
    const c = open(s.base);
    const side = await s.next();
    side.socket.send("hello?");
    const err = await c.done;
    expect(err?.code).toBe(Code.Internal);
    expect(err?.rawMessage).toMatch(/text frame/);
    expect(await side.closed).toBe(1006);
  });

  it("reports a refused upgrade with the console's reason and an auth code", async () => {
    const s = await startServer({ status: 401, body: "" });
    const c = open(s.base);
    const err = await c.done;
    expect(err?.code).toBe(Code.Unauthenticated);
    expect(err?.rawMessage).toMatch(/HTTP 401/);
  });

  it("says unavailable when nothing listens", async () => {
    const s = await startServer();
    const base = s.base;
    await new Promise<void>((r) => server?.close(() => r()));
    server = undefined;
    const err = await open(base).done;
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.rawMessage).toMatch(/cannot reach the console/);
  });

  it("ends the stream at once on abort and closes the socket", async () => {
    const s = await startServer();
    const ac = new AbortController();
    const c = open(s.base, ac.signal);
    const side = await s.next();
    side.socket.send(response({ case: "connectAck", value: { sessionId: "s1" } }));
    await until(() => c.received.length === 1, "the ack");
    ac.abort(new ConnectError("silent console", Code.DeadlineExceeded));
    const err = await c.done;
    expect(err?.code).toBe(Code.DeadlineExceeded);
    expect(await side.closed).toBe(1000);
  });

  it("gives up at once when aborted before the upgrade completes", async () => {
    const s = await startServer();
    const ac = new AbortController();
    ac.abort();
    const err = await open(s.base, ac.signal).done;
    expect(err?.code).toBe(Code.Canceled);
  });
});
