/**
 * The agent's state machine on a fake console behind the transport seam, with fake
 * timers: hello → ack → heartbeats → dispatch → result, reconnect with backoff after a
 * refused dial or a silent console, and stop (at once when idle, worker_shutdown after
 * the grace period).
 */
import { create, type DescMessage, type DescMethodStreaming, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createWritableIterable } from "@connectrpc/connect/protocol";
import { type ConnectRequest, ConnectRequestSchema, type ConnectResponse, ConnectResponseSchema } from "@onlyboxes/proto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Agent } from "../../src/agent.ts";
import { createEchoCapability } from "../../src/capabilities/echo.ts";
import type { Capability } from "../../src/capabilities/types.ts";
import type { WorkerConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";

type Payload = MessageInitShape<typeof ConnectResponseSchema>["payload"];

/** One stream the agent opened: what the worker sent, and a handle to answer it. */
class FakeConnection {
  readonly fromWorker: ConnectRequest[] = [];
  inputEnded = false;
  ended = false;
  private readonly toWorker = createWritableIterable<ConnectResponse>();
  private failure: unknown = null;

  constructor(
    input: AsyncIterable<unknown>,
    readonly signal: AbortSignal | undefined,
  ) {
    void (async () => {
      for await (const m of input)
        this.fromWorker.push(create(ConnectRequestSchema, m as MessageInitShape<typeof ConnectRequestSchema>));
      this.inputEnded = true;
      // The console closes its side when the worker ends its stream.
      this.end();
    })();
    signal?.addEventListener("abort", () => this.fail(ConnectError.from(signal.reason, Code.Canceled)), { once: true });
  }

  async *messages(): AsyncGenerator<ConnectResponse> {
    for await (const m of this.toWorker) yield m;
    if (this.failure) throw this.failure;
  }

  send(payload: Payload): void {
    void this.toWorker.write(create(ConnectResponseSchema, { payload })).catch(() => {});
  }

  end(): void {
    this.ended = true;
    this.toWorker.close();
  }

  fail(err: unknown): void {
    this.failure ??= err;
    this.end();
  }

  sent(kind: ConnectRequest["payload"]["case"]): ConnectRequest[] {
    return this.fromWorker.filter((r) => r.payload.case === kind);
  }
}

/** A console behind the transport seam: records dials, may refuse them. */
class FakeConsole {
  readonly connections: FakeConnection[] = [];
  readonly dialedAt: number[] = [];
  refuseWith: ConnectError | null = null;

  readonly transport = (): Transport => ({
    unary: () => Promise.reject(new ConnectError("no unary", Code.Unimplemented)),
    stream: async <I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      _timeoutMs: number | undefined,
      _header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
    ) => {
      this.dialedAt.push(Date.now());
      if (this.refuseWith) throw this.refuseWith;
      const conn = new FakeConnection(input, signal);
      this.connections.push(conn);
      return {
        stream: true as const,
        service: method.parent,
        method,
        header: new Headers(),
        trailer: new Headers(),
        message: conn.messages() as unknown as AsyncIterable<never>,
      };
    },
  });

  get last(): FakeConnection {
    const c = this.connections.at(-1);
    if (!c) throw new Error("no connection yet");
    return c;
  }
}

const config: WorkerConfig = {
  nodeId: "node-1",
  secret: "obw_test",
  consoleUrl: "http://console.test",
  insecure: true,
  nodeName: "unit",
  version: "test",
  labels: { zone: "a" },
  heartbeatIntervalSec: 5,
  heartbeatJitterPct: 0,
  maxInflight: 2,
  echoMaxInflight: 2,
  dockerEnabled: false,
  shutdownGraceSec: 30,
  echoDelayMs: 0,
};

/** Lets pending promise chains and real I/O turns run until `cond` holds (no fake time passes). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

/** A capability that runs until the test releases it (or the agent aborts it). */
class Gate implements Capability {
  readonly name = "gate";
  readonly maxInflight = 2;
  readonly started: string[] = [];
  private readonly releases = new Map<string, () => void>();
  run(_payload: unknown, ctx: { commandId: string; signal: AbortSignal }): Promise<unknown> {
    this.started.push(ctx.commandId);
    return new Promise((resolve) => this.releases.set(ctx.commandId, () => resolve({ released: ctx.commandId })));
  }
  release(commandId: string): void {
    this.releases.get(commandId)?.();
  }
}

let fake: FakeConsole;
let logs: string[];
let gate: Gate;

function startAgent() {
  const echo = createEchoCapability(config.maxInflight);
  const log = createLogger({}, "debug", (line) => logs.push(line));
  const agent = new Agent(config, [{ capabilities: () => [echo, gate], onChange: () => {} }], log, {
    createTransport: fake.transport,
  });
  const running = agent.run();
  return { agent, running };
}

async function connectAndAck(intervalSec = 5): Promise<FakeConnection> {
  await until(() => fake.connections.length > 0 && fake.last.fromWorker.length > 0, "the hello");
  fake.last.send({ case: "connectAck", value: { sessionId: "sess-1", heartbeatIntervalSec: intervalSec } });
  return fake.last;
}

/** Starts the agent, acks its hello with `intervalSec` heartbeats, runs `body` on the connection, and stops the agent. */
async function withConnectedAgent(intervalSec: number, body: (conn: FakeConnection) => Promise<void>): Promise<void> {
  const { agent, running } = startAgent();
  try {
    await body(await connectAndAck(intervalSec));
  } finally {
    await agent.stop();
    await running;
  }
}

/** An acked agent running the gate command `commandId`, which finishes only when the test releases it. */
async function startWithGatedCommand(commandId: string) {
  const { agent, running } = startAgent();
  const conn = await connectAndAck(5);
  dispatch(conn, commandId, "", "gate");
  await until(() => gate.started.includes(commandId), "the command to start");
  return { agent, running, conn };
}

function dispatch(conn: FakeConnection, commandId: string, message: string, capability = "echo"): void {
  conn.send({
    case: "commandDispatch",
    value: {
      commandId,
      capability,
      payloadJson: new TextEncoder().encode(JSON.stringify({ message })),
      deadlineUnixMs: BigInt(Date.now() + 600_000),
    },
  });
}

function resultOf(conn: FakeConnection, commandId: string) {
  const r = conn.sent("commandResult").find((x) => x.payload.case === "commandResult" && x.payload.value.commandId === commandId);
  return r?.payload.case === "commandResult" ? r.payload.value : undefined;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  fake = new FakeConsole();
  logs = [];
  gate = new Gate();
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("agent", { timeout: 10_000 }, () => {
  it("says hello, beats every interval once acked, and answers a dispatch with its result", async () => {
    const { agent, running } = startAgent();
    const conn = await connectAndAck(5);
    const hello = conn.fromWorker[0]?.payload;
    expect(hello?.case).toBe("hello");
    expect(hello?.value).toMatchObject({
      nodeId: "node-1",
      labels: { zone: "a" },
      capabilities: [
        { name: "echo", maxInflight: 2 },
        { name: "gate", maxInflight: 2 },
      ],
    });
    await agent.connected;

    await vi.advanceTimersByTimeAsync(4_999);
    expect(conn.sent("heartbeat")).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => conn.sent("heartbeat").length === 1, "the first heartbeat");
    for (const n of [2, 3]) {
      conn.send({ case: "heartbeatAck", value: {} });
      await vi.advanceTimersByTimeAsync(5_000);
      await until(() => conn.sent("heartbeat").length === n, `heartbeat ${n}`);
    }
    expect(conn.sent("heartbeat")[0]?.payload.value).toMatchObject({ nodeId: "node-1", sessionId: "sess-1" });

    dispatch(conn, "cmd-1", "hi there");
    await until(() => resultOf(conn, "cmd-1") !== undefined, "the result");
    const result = resultOf(conn, "cmd-1");
    expect(result?.error).toBeUndefined();
    expect(JSON.parse(new TextDecoder().decode(result?.payloadJson))).toEqual({ message: "hi there" });

    await agent.stop();
    await running;
  });

  it("uses the console's shorter heartbeat interval", async () => {
    await withConnectedAgent(2, async (conn) => {
      for (const n of [1, 2, 3]) {
        await vi.advanceTimersByTimeAsync(1_999);
        expect(conn.sent("heartbeat")).toHaveLength(n - 1);
        await vi.advanceTimersByTimeAsync(1);
        await until(() => conn.sent("heartbeat").length === n, `heartbeat ${n}`);
        conn.send({ case: "heartbeatAck", value: {} });
      }
    });
  });

  it("stays connected while the console acks its heartbeats", async () => {
    await withConnectedAgent(5, async (conn) => {
      for (let i = 0; i < 10; i++) {
        await vi.advanceTimersByTimeAsync(5_000);
        await until(() => conn.sent("heartbeat").length === i + 1, "a heartbeat");
        conn.send({ case: "heartbeatAck", value: {} });
      }
      expect(fake.connections).toHaveLength(1);
      expect(conn.ended).toBe(false);
    });
  });

  it("drops a connection whose console is silent for 3 heartbeat intervals and dials again", async () => {
    vi.spyOn(Math, "random").mockReturnValue(1);
    const { agent, running } = startAgent();
    const conn = await connectAndAck(5);
    // Silent for just under three intervals: still connected.
    await vi.advanceTimersByTimeAsync(14_999);
    expect(conn.ended).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => conn.ended, "the silent connection to be dropped");
    expect(logs.some((l) => l.includes("console silent; reconnecting"))).toBe(true);
    // The first retry waits at most the base backoff (500 ms with the jitter at its ceiling).
    expect(fake.connections).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(500);
    await until(() => fake.connections.length === 2, "a new connection");
    expect(fake.last.fromWorker[0]?.payload.case).toBe("hello");
    await agent.stop();
    await running;
  });

  it("counts any frame from the console as a sign of life, not only heartbeat acks", async () => {
    await withConnectedAgent(5, async (conn) => {
      for (let i = 0; i < 4; i++) {
        await vi.advanceTimersByTimeAsync(10_000);
        conn.send({ case: "commandCancel", value: { commandId: "unknown", reason: "" } });
      }
      expect(conn.ended).toBe(false);
      expect(fake.connections).toHaveLength(1);
    });
  });

  it("redials a refusing console with exponential backoff, and starts over after an ack", async () => {
    vi.spyOn(Math, "random").mockReturnValue(1);
    fake.refuseWith = new ConnectError("console refused the connection (HTTP 503)", Code.Unavailable);
    const { agent, running } = startAgent();
    await until(() => fake.dialedAt.length === 1, "the first dial");
    for (const wait of [500, 1_000, 2_000, 4_000]) {
      const dials = fake.dialedAt.length;
      await vi.advanceTimersByTimeAsync(wait - 1);
      expect(fake.dialedAt.length).toBe(dials);
      await vi.advanceTimersByTimeAsync(1);
      await until(() => fake.dialedAt.length === dials + 1, `a dial after ${wait} ms`);
    }
    fake.refuseWith = null;
    await vi.advanceTimersByTimeAsync(8_000);
    const conn = await connectAndAck(5);
    await vi.advanceTimersByTimeAsync(11_000);
    // The console goes away after a good connection: the next dial comes within the base backoff.
    conn.fail(new ConnectError("connection closed (1006)", Code.Unavailable));
    await until(() => conn.ended, "the failure");
    const before = fake.dialedAt.length;
    await vi.advanceTimersByTimeAsync(500);
    await until(() => fake.dialedAt.length === before + 1, "a prompt redial");
    await agent.stop();
    await running;
  });

  it("stops at once when no command runs, leaving no timer behind", async () => {
    const { agent, running } = startAgent();
    const conn = await connectAndAck(5);
    const started = Date.now();
    await agent.stop();
    await running;
    // No fake time had to pass: the 30 s grace period is not waited for.
    expect(Date.now() - started).toBe(0);
    expect(conn.sent("capabilitiesUpdate").at(-1)?.payload.value).toMatchObject({ capabilities: [] });
    expect(conn.inputEnded).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("stops as soon as the running commands finish, delivering their results", async () => {
    const { agent, running, conn } = await startWithGatedCommand("cmd-1");
    let done = false;
    const stopped = agent.stop().then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(done).toBe(false);
    gate.release("cmd-1");
    await until(() => done, "stop to return once the command finished");
    await stopped;
    await running;
    expect(JSON.parse(new TextDecoder().decode(resultOf(conn, "cmd-1")?.payloadJson))).toEqual({ released: "cmd-1" });
    expect(conn.inputEnded).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("fails commands still running after the grace period with worker_shutdown, and refuses new ones", async () => {
    const { agent, running, conn } = await startWithGatedCommand("cmd-long");
    const stopped = agent.stop(1_000);
    await until(() => conn.sent("capabilitiesUpdate").length > 0, "the capabilities withdrawn");
    expect(conn.sent("capabilitiesUpdate")[0]?.payload.value).toMatchObject({ capabilities: [] });
    dispatch(conn, "cmd-late", "too late");
    await until(() => resultOf(conn, "cmd-late") !== undefined, "the refusal");
    expect(resultOf(conn, "cmd-late")?.error?.code).toBe("worker_shutdown");
    await vi.advanceTimersByTimeAsync(999);
    expect(resultOf(conn, "cmd-long")).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await stopped;
    await running;
    const failed = resultOf(conn, "cmd-long");
    expect(failed?.error?.code).toBe("worker_shutdown");
    expect(failed?.error?.message).toMatch(/retry/);
    expect(conn.inputEnded).toBe(true);
  });
});
