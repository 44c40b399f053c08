import { env, SELF } from "cloudflare:test";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  type CommandDispatch,
  ConnectRequestSchema,
  type ConnectResponse,
  ConnectResponseSchema,
  type TerminalExecResult,
} from "@onlyboxes/proto";
import { afterEach } from "vitest";
import { hmacHex } from "../src/lib/crypto.ts";
import { decodeEnvelope, FLAG_DATA, FLAG_END_STREAM } from "../src/rpc/envelope.ts";

/** What a test worker answers for one dispatch: a JSON result, or an error code + message. */
export type TestReply = { payload: unknown } | { error: { code: string; message: string } } | "no-reply";

export interface TestWorkerOptions {
  nodeId?: string;
  secret?: string;
  capabilities?: Array<{ name: string; maxInflight: number }>;
  labels?: Record<string, string>;
  /** Answers each dispatch; defaults to echoing `payload.message` back. */
  handler?: (d: CommandDispatch, payload: unknown, w: TestWorker) => TestReply | Promise<TestReply>;
  /** Skip creating the credential row (to test a wrong or missing credential). */
  noProvision?: boolean;
  /** Overrides of the hello's descriptive fields (to test the console's bounds). */
  hello?: { nodeName?: string; executorKind?: string; version?: string };
}

export interface TestWorker {
  nodeId: string;
  secret: string;
  socket: WebSocket;
  /** Resolves with the connect_ack. */
  acked: Promise<ConnectResponse>;
  dispatches: CommandDispatch[];
  cancels: string[];
  /** Resolves when the console closes the socket, with the close code. */
  closed: Promise<number>;
  /** Resolves with the close reason, when the console closes the socket. */
  closeReason: Promise<string>;
  send(msg: MessageInitShape<typeof ConnectRequestSchema>): void;
  /** Sends an output chunk for a running command. */
  output(commandId: string, stream: "stdout" | "stderr", text: string): void;
  close(): void;
}

/** Creates a worker credential row directly in D1 (what POST /api/v1/workers does). */
export async function provisionTestWorker(nodeId: string, secret: string): Promise<void> {
  const key = env.CONSOLE_HASH_KEY ?? "";
  await env.DB.prepare("INSERT INTO workers (node_id, secret_hash, registered_at) VALUES (?, ?, ?)")
    .bind(nodeId, await hmacHex(key, secret), Date.now())
    .run();
}

/**
 * Connects a test worker with the credentials the API issued for `created`; the test plays
 * the agent itself, so nothing is provisioned.
 */
export function connectRegisteredWorker(
  created: { nodeId: string; secret: string },
  opts: TestWorkerOptions = {},
): Promise<TestWorker> {
  return connectTestWorker({ nodeId: created.nodeId, secret: created.secret, noProvision: true, ...opts });
}

/**
 * Opens the real worker wire against the console under test (SELF) and plays a worker:
 * hello, heartbeats on demand, and replies to dispatches through `handler`.
 */
export async function connectTestWorker(opts: TestWorkerOptions = {}): Promise<TestWorker> {
  const nodeId = opts.nodeId ?? crypto.randomUUID();
  const secret = opts.secret ?? `obw_test_${crypto.randomUUID()}`;
  if (!opts.noProvision) await provisionTestWorker(nodeId, secret);
  const res = await SELF.fetch("http://console.test/rpc/onlyboxes.registry.v1.WorkerRegistryService/Connect", {
    headers: { upgrade: "websocket", authorization: `Bearer ${secret}`, "x-onlyboxes-worker-id": nodeId },
  });
  const socket = res.webSocket;
  if (!socket) throw new Error(`upgrade refused: HTTP ${res.status} ${await res.text()}`);
  socket.accept();
  // Without this, messages arrive as Blobs in the pool-workers runtime.
  (socket as unknown as { binaryType: string }).binaryType = "arraybuffer";
  let resolveAck: (r: ConnectResponse) => void = () => {};
  const acked = new Promise<ConnectResponse>((r) => {
    resolveAck = r;
  });
  const closed = new Promise<number>((r) => socket.addEventListener("close", (e) => r(e.code)));
  const closeReason = new Promise<string>((r) => socket.addEventListener("close", (e) => r(e.reason)));
  const send = (msg: MessageInitShape<typeof ConnectRequestSchema>) =>
    socket.send(encodeEnvelope(FLAG_DATA, toBinary(ConnectRequestSchema, create(ConnectRequestSchema, msg))));
  const w: TestWorker = {
    nodeId,
    secret,
    socket,
    acked,
    dispatches: [],
    cancels: [],
    closed,
    closeReason,
    send,
    output(commandId, stream, text) {
      send({
        payload: {
          case: "outputChunk",
          value: { commandId, stream: stream === "stderr" ? 2 : 1, data: new TextEncoder().encode(text) },
        },
      });
    },
    close() {
      socket.close(1000, "test done");
    },
  };
  const handler = opts.handler ?? ((_d, payload) => ({ payload: { message: (payload as { message?: string }).message } }));
  socket.addEventListener("message", (ev) => {
    const { flags, payload: body } = decodeEnvelope(new Uint8Array(ev.data as ArrayBuffer));
    if (flags & FLAG_END_STREAM) return; // end-stream trailer before close
    const msg = fromBinary(ConnectResponseSchema, body);
    const p = msg.payload;
    if (p.case === "connectAck") resolveAck(msg);
    else if (p.case === "commandCancel") w.cancels.push(p.value.commandId);
    else if (p.case === "commandDispatch") {
      const d = p.value;
      w.dispatches.push(d);
      const payload = JSON.parse(new TextDecoder().decode(d.payloadJson)) as unknown;
      void Promise.resolve(handler(d, payload, w)).then((reply) => {
        if (reply === "no-reply") return;
        send({
          payload: {
            case: "commandResult",
            value:
              "error" in reply
                ? { commandId: d.commandId, error: reply.error }
                : { commandId: d.commandId, payloadJson: new TextEncoder().encode(JSON.stringify(reply.payload)) },
          },
        });
      });
    }
  });
  send({
    payload: {
      case: "hello",
      value: {
        nodeId,
        nodeName: opts.hello?.nodeName ?? "test-worker",
        executorKind: opts.hello?.executorKind ?? "test",
        version: opts.hello?.version ?? "test",
        labels: opts.labels ?? {},
        capabilities: opts.capabilities ?? [{ name: "echo", maxInflight: 4 }],
        workerSecret: secret,
      },
    },
  });
  return w;
}

/**
 * The test workers of one test file: every worker pushed onto the list is closed after
 * each test, and its socket's end awaited; then `afterClose`, if given.
 */
export function workersClosedAfterEach(afterClose?: () => Promise<unknown>): TestWorker[] {
  const workers: TestWorker[] = [];
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      w.close();
      await w.closed;
    }
    await afterClose?.();
  });
  return workers;
}

/**
 * A test worker's terminalExec answer: a successful run in `sessionId` that printed
 * nothing, with `fields` over it.
 */
export function terminalReply(sessionId: string, fields: Partial<TerminalExecResult> = {}): TestReply {
  return {
    payload: {
      session_id: sessionId,
      created: true,
      stdout: "",
      stderr: "",
      exit_code: 0,
      stdout_truncated: false,
      stderr_truncated: false,
      lease_expires_unix_ms: Date.now() + 60_000,
      ...fields,
    } satisfies TerminalExecResult,
  };
}

/** A test worker's capability list: each named capability, 4 calls at once. */
export function offering(...names: string[]): Array<{ name: string; maxInflight: number }> {
  return names.map((name) => ({ name, maxInflight: 4 }));
}
