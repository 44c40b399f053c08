import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  CapabilityDeclarationSchema,
  type CommandDispatch,
  type ConnectRequestSchema,
  type ErrorCode,
  OutputChunk_Stream,
  WorkerRegistryService,
} from "@onlyboxes/proto";
import { type Capability, CommandFailure } from "./capabilities/types.ts";
import type { WorkerConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { workerMetrics } from "./metrics.ts";
import { FileInbox, FileOutbox } from "./rpc/file-channel.ts";
import { Outbox as OutboxQueue } from "./rpc/outbox.ts";
import { createWebSocketTransport, type WebSocketTransportOptions } from "./rpc/ws-transport.ts";

type Outbound = MessageInitShape<typeof ConnectRequestSchema>;

/** Supplies the capabilities a worker serves right now; Docker ones come and go with the engine. */
export interface CapabilitySource {
  capabilities(): Capability[];
  onChange(listener: () => void): void;
}

/** Seams for tests: the transport a connection runs on. */
export interface AgentOptions {
  createTransport?: (options: WebSocketTransportOptions) => Transport;
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** The console is presumed gone after this many heartbeat intervals without a frame from it. */
const SILENT_INTERVALS = 3;
/** How long a stopping worker waits for its last frames to leave and the console to close. */
const FAREWELL_MS = 2_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * One command this worker runs. Its file channels exist only once a frame or the
 * capability needs them: most commands move no file, and pay nothing for them.
 */
class RunningCommand {
  private fileIn: FileInbox | null = null;
  private fileOut: FileOutbox | null = null;

  constructor(
    /** Ends the command now with `failure` (cancel, deadline, shutdown, lost connection). */
    readonly abort: (failure: CommandFailure) => void,
    readonly capability: string,
    private readonly commandId: string,
    private readonly send: (msg: Outbound) => void,
  ) {}

  /** The pieces of the file the console uploads with this command. */
  inbox(): FileInbox {
    this.fileIn ??= new FileInbox((seq) =>
      this.send({ payload: { case: "fileChunkAck", value: { commandId: this.commandId, seq } } }),
    );
    return this.fileIn;
  }

  /** The file this command sends the console, within the console's window. */
  outbox(): FileOutbox {
    this.fileOut ??= new FileOutbox((piece) =>
      this.send({
        payload: {
          case: "fileChunk",
          value: {
            commandId: this.commandId,
            seq: piece.seq,
            data: piece.data,
            last: piece.last,
            totalSize: BigInt(piece.totalSize ?? 0),
            mimeType: piece.mimeType ?? "",
          },
        },
      }),
    );
    return this.fileOut;
  }
}

type Outbox = OutboxQueue<Outbound>;

/**
 * The worker's connection to the console: dials out, says hello, keeps heartbeats, runs
 * dispatched commands within each capability's max_inflight, honours cancel frames and
 * deadlines, and reconnects forever with exponential backoff and full jitter.
 */
export class Agent {
  private readonly running = new Map<string, RunningCommand>();
  private readonly inflight = new Map<string, number>();
  private outbound: Outbox | null = null;
  /** Settles when the current connection has ended. */
  private connection: Promise<void> | null = null;
  private draining = false;
  private stopped = false;
  private readonly stopController = new AbortController();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  /** Waiters for the moment no command runs any more. */
  private readonly idleWaiters: Array<() => void> = [];
  private readonly createTransport: (options: WebSocketTransportOptions) => Transport;
  /** Resolves when the first connect_ack arrives (for tests and the launcher). */
  readonly connected: Promise<void>;
  private markConnected: () => void = () => {};

  constructor(
    private readonly config: WorkerConfig,
    private readonly sources: CapabilitySource[],
    private readonly log: Logger,
    options: AgentOptions = {},
  ) {
    this.createTransport = options.createTransport ?? createWebSocketTransport;
    this.connected = new Promise((r) => {
      this.markConnected = r;
    });
    for (const s of sources) s.onChange(() => this.announceCapabilities());
  }

  private capabilityMap(): Map<string, Capability> {
    const m = new Map<string, Capability>();
    for (const s of this.sources) for (const c of s.capabilities()) m.set(c.name, c);
    return m;
  }

  private declarations() {
    if (this.draining) return [];
    return [...this.capabilityMap().values()].map((c) =>
      create(CapabilityDeclarationSchema, { name: c.name, maxInflight: c.maxInflight }),
    );
  }

  private announceCapabilities(): void {
    const caps = this.declarations();
    this.log.info("capabilities changed", { capabilities: caps.map((c) => c.name) });
    this.send({ payload: { case: "capabilitiesUpdate", value: { capabilities: caps } } });
  }

  /** Queues a frame on the given (by default the current) connection; dropped when there is none. */
  private send(msg: Outbound, outbox: Outbox | null = this.outbound): void {
    outbox?.send(msg);
  }

  /** Runs until stop(): connect, serve, and reconnect after any failure. */
  async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const started = Date.now();
      let acked = false;
      try {
        await this.connectOnce(() => {
          acked = true;
          attempt = 0;
        });
        if (this.stopped) break;
        this.log.warn("console closed the connection");
      } catch (err) {
        if (this.stopped) break;
        const e = ConnectError.from(err);
        this.log.warn("connection to console failed", { error: e.rawMessage, code: e.code });
      }
      if (acked && Date.now() - started > 10_000) attempt = 0;
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
      const delay = Math.round(Math.random() * ceiling);
      attempt = Math.min(attempt + 1, 16);
      this.log.info("reconnecting", { in_ms: delay });
      await sleep(delay, this.stopController.signal);
    }
  }

  private async connectOnce(onAck: () => void): Promise<void> {
    const transport = this.createTransport({
      baseUrl: this.config.consoleUrl,
      headers: { authorization: `Bearer ${this.config.secret}`, "x-onlyboxes-worker-id": this.config.nodeId },
    });
    const client = createClient(WorkerRegistryService, transport);
    const outbox: Outbox = new OutboxQueue<Outbound>();
    this.outbound = outbox;
    const conn = new AbortController();
    let ended: () => void = () => {};
    this.connection = new Promise<void>((r) => {
      ended = r;
    });
    this.send(
      {
        payload: {
          case: "hello",
          value: {
            nodeId: this.config.nodeId,
            nodeName: this.config.nodeName,
            executorKind: "docker",
            labels: this.config.labels,
            version: this.config.version,
            capabilities: this.declarations(),
            workerSecret: this.config.secret,
          },
        },
      },
      outbox,
    );
    let intervalSec = this.config.heartbeatIntervalSec;
    this.watchSilence(conn, intervalSec);
    try {
      const signal = AbortSignal.any([this.stopController.signal, conn.signal]);
      for await (const res of client.connect(outbox, { signal })) {
        // Any frame proves the console is there: acks, dispatches and cancels alike.
        this.watchSilence(conn, intervalSec);
        const p = res.payload;
        switch (p.case) {
          case "connectAck":
            this.log.info("connected to console", { session_id: p.value.sessionId });
            onAck();
            this.markConnected();
            intervalSec = this.startHeartbeats(outbox, p.value.sessionId, p.value.heartbeatIntervalSec);
            this.watchSilence(conn, intervalSec);
            break;
          case "heartbeatAck":
            break;
          case "commandDispatch":
            this.handleDispatch(outbox, p.value);
            break;
          case "commandCancel": {
            const r = this.running.get(p.value.commandId);
            r?.abort(new CommandFailure("canceled", p.value.reason || "canceled by the console"));
            break;
          }
          case "fileChunk": {
            const c = p.value;
            this.running.get(c.commandId)?.inbox().push({ seq: c.seq, data: c.data, last: c.last });
            break;
          }
          case "fileChunkAck":
            this.running.get(p.value.commandId)?.outbox().onAck(p.value.seq);
            break;
          default:
            break;
        }
      }
    } finally {
      this.stopHeartbeats();
      this.stopWatchingSilence();
      outbox.close();
      if (this.outbound === outbox) this.outbound = null;
      ended();
      // Results of commands still running can no longer be delivered: the console has failed them.
      for (const r of this.running.values()) r.abort(new CommandFailure("canceled", "connection to console lost"));
    }
  }

  /**
   * (Re)arms the silence timer: when the console sends nothing for SILENT_INTERVALS
   * heartbeat intervals the connection is presumed half-open and dropped, and run()
   * dials again (a dead peer would otherwise only be noticed by TCP, minutes later).
   */
  private watchSilence(conn: AbortController, intervalSec: number): void {
    this.stopWatchingSilence();
    const limitMs = intervalSec * SILENT_INTERVALS * 1000;
    this.silenceTimer = setTimeout(() => {
      this.log.warn("console silent; reconnecting", { silent_ms: limitMs });
      conn.abort(new ConnectError(`the console sent nothing for ${limitMs} ms`, Code.DeadlineExceeded));
    }, limitMs);
    this.silenceTimer.unref();
  }

  private stopWatchingSilence(): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = null;
  }

  /** Beats until the connection ends; answers the interval in use (the shorter of the console's and ours). */
  private startHeartbeats(outbox: Outbox, sessionId: string, consoleIntervalSec: number): number {
    this.stopHeartbeats();
    const intervalSec =
      consoleIntervalSec > 0 ? Math.min(consoleIntervalSec, this.config.heartbeatIntervalSec) : this.config.heartbeatIntervalSec;
    const tick = () => {
      const jitter = 1 + ((Math.random() * 2 - 1) * this.config.heartbeatJitterPct) / 100;
      // Beat early rather than late: the console marks a node offline after 3 missed intervals.
      this.heartbeatTimer = setTimeout(
        () => {
          this.send({ payload: { case: "heartbeat", value: { nodeId: this.config.nodeId, sessionId } } }, outbox);
          tick();
        },
        Math.max(200, intervalSec * 1000 * Math.min(jitter, 1)),
      );
      this.heartbeatTimer.unref();
    };
    tick();
    return intervalSec;
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private handleDispatch(outbox: Outbox, d: CommandDispatch): void {
    const reply = (result: { payload?: unknown; error?: { code: ErrorCode; message: string } }) => {
      this.send(
        {
          payload: {
            case: "commandResult",
            value: {
              commandId: d.commandId,
              error: result.error,
              payloadJson: result.error ? new Uint8Array() : encoder.encode(JSON.stringify(result.payload ?? null)),
              completedUnixMs: BigInt(Date.now()),
            },
          },
        },
        outbox,
      );
    };
    if (this.draining) {
      reply({ error: { code: "worker_shutdown", message: "the worker is shutting down; retry the call" } });
      return;
    }
    const cap = this.capabilityMap().get(d.capability);
    if (!cap) {
      reply({ error: { code: "no_worker", message: `this worker does not serve ${d.capability}` } });
      return;
    }
    const used = this.inflight.get(cap.name) ?? 0;
    if (used >= cap.maxInflight) {
      reply({ error: { code: "no_capacity", message: `${cap.name} is at its limit of ${cap.maxInflight} concurrent runs` } });
      return;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(decoder.decode(d.payloadJson));
    } catch {
      reply({ error: { code: "invalid_argument", message: "payload is not valid JSON" } });
      return;
    }
    const log = this.log.child({ command_id: d.commandId, capability: d.capability });
    // The signal is made only when the capability reads it (Node builds it on first use):
    // a command that answers at once, like echo, never pays for one or its listeners.
    const controller = new AbortController();
    const deadline = Number(d.deadlineUnixMs) || Date.now() + 60_000;
    const started = Date.now();
    // Whichever comes first: the result, or the abort (cancel/deadline), so the console hears at once.
    let settled = false;
    // Its callback runs on a later turn, once `abort` below is defined.
    const timer = setTimeout(
      () => abort(new CommandFailure("deadline_exceeded", "the command did not finish before its deadline")),
      Math.max(0, deadline - Date.now()),
    );
    const finish = (outcome: string) => {
      settled = true;
      clearTimeout(timer);
      this.running.delete(d.commandId);
      this.inflight.set(cap.name, Math.max(0, (this.inflight.get(cap.name) ?? 1) - 1));
      workerMetrics.runFinished(cap.name, outcome, Date.now() - started);
      if (this.running.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
    const fail = (err: unknown) => {
      if (settled) return;
      const failure =
        err instanceof CommandFailure
          ? err
          : new CommandFailure("worker_error", err instanceof Error ? err.message : String(err));
      if (!(err instanceof CommandFailure)) log.error("command failed unexpectedly", { error: String(err) });
      reply({ error: { code: failure.code, message: failure.message } });
      finish(failure.code);
    };
    // The console hears first; then the capability's own listeners stop its work.
    const abort = (failure: CommandFailure) => {
      fail(failure);
      controller.abort(failure);
    };
    const run = new RunningCommand(abort, cap.name, d.commandId, (msg) => this.send(msg, outbox));
    this.running.set(d.commandId, run);
    this.inflight.set(cap.name, used + 1);
    let seq = 0;
    const emitOutput = d.streamOutput
      ? (stream: "stdout" | "stderr", data: Uint8Array) => {
          this.send(
            {
              payload: {
                case: "outputChunk",
                value: {
                  commandId: d.commandId,
                  stream: stream === "stderr" ? OutputChunk_Stream.STDERR : OutputChunk_Stream.STDOUT,
                  data,
                  seq: seq++,
                },
              },
            },
            outbox,
          );
        }
      : undefined;
    log.debug("command started", { deadline_unix_ms: deadline });
    let work: Promise<unknown>;
    try {
      work = cap.run(payload, {
        commandId: d.commandId,
        deadlineUnixMs: deadline,
        get signal() {
          return controller.signal;
        },
        emitOutput,
        fileIn: (signal) => run.inbox().pieces(signal),
        sendFile: (piece, signal) => run.outbox().push(piece, signal),
        log,
      });
    } catch (err) {
      work = Promise.reject(err);
    }
    // The capability's own promise may settle after the abort: never leave it unhandled.
    work.then((result) => {
      if (settled) return;
      reply({ payload: result });
      log.debug("command done", { ms: Date.now() - started });
      finish("ok");
    }, fail);
  }

  /** Resolves when no command is running (at once if none is). */
  private whenIdle(): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /**
   * Graceful stop: take no new work (capabilities withdrawn), let running commands finish
   * within the grace period, fail the rest with the retryable `worker_shutdown`, send what
   * is left, end the stream and close the connection. Returns as soon as that is done.
   */
  async stop(graceMs = this.config.shutdownGraceSec * 1000): Promise<void> {
    if (this.stopped || this.draining) return;
    this.draining = true;
    this.announceCapabilities();
    if (this.running.size > 0) {
      this.log.info("waiting for running commands", { count: this.running.size, grace_ms: graceMs });
      await withTimeout(this.whenIdle(), graceMs);
      for (const r of this.running.values()) {
        r.abort(new CommandFailure("worker_shutdown", "the worker shut down before the command finished; retry the call"));
      }
      // Each abort has queued its reply already: this resolves at once, within a bound.
      await withTimeout(this.whenIdle(), FAREWELL_MS);
    }
    this.stopped = true;
    this.stopHeartbeats();
    // Let the last results leave, end the stream, and give the console a moment to close it.
    const outbox = this.outbound;
    if (outbox) await withTimeout(outbox.flushed(), FAREWELL_MS);
    outbox?.close();
    if (this.connection) await withTimeout(this.connection, FAREWELL_MS);
    this.stopController.abort();
  }
}

/** Waits for `p` at most `ms`; the timer never outlives the wait. */
async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p,
      new Promise<void>((r) => {
        timer = setTimeout(r, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
