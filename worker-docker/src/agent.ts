import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
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
import { AsyncQueue } from "./rpc/async-queue.ts";
import { createWebSocketTransport } from "./rpc/ws-transport.ts";

type Outbound = MessageInitShape<typeof ConnectRequestSchema>;

/** Supplies the capabilities a worker serves right now; Docker ones come and go with the engine. */
export interface CapabilitySource {
  capabilities(): Capability[];
  onChange(listener: () => void): void;
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const encoder = new TextEncoder();

/**
 * The worker's connection to the console: dials out, says hello, keeps heartbeats, runs
 * dispatched commands within each capability's max_inflight, honours cancel frames and
 * deadlines, and reconnects forever with exponential backoff and full jitter.
 */
export class Agent {
  private readonly running = new Map<string, { controller: AbortController; capability: string }>();
  private readonly inflight = new Map<string, number>();
  private outbound: AsyncQueue<Outbound> | null = null;
  private draining = false;
  private stopped = false;
  private readonly stopController = new AbortController();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private idle: (() => void) | null = null;
  /** Resolves when the first connect_ack arrives (for tests and the launcher). */
  readonly connected: Promise<void>;
  private markConnected: () => void = () => {};

  constructor(
    private readonly config: WorkerConfig,
    private readonly sources: CapabilitySource[],
    private readonly log: Logger,
  ) {
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
    this.outbound?.push({ payload: { case: "capabilitiesUpdate", value: { capabilities: caps } } });
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
    const transport = createWebSocketTransport({
      baseUrl: this.config.consoleUrl,
      headers: { authorization: `Bearer ${this.config.secret}`, "x-onlyboxes-worker-id": this.config.nodeId },
    });
    const client = createClient(WorkerRegistryService, transport);
    const outbound = new AsyncQueue<Outbound>();
    this.outbound = outbound;
    outbound.push({
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
    });
    try {
      for await (const res of client.connect(outbound, { signal: this.stopController.signal })) {
        const p = res.payload;
        switch (p.case) {
          case "connectAck":
            this.log.info("connected to console", { session_id: p.value.sessionId });
            onAck();
            this.markConnected();
            this.startHeartbeats(outbound, p.value.sessionId, p.value.heartbeatIntervalSec);
            break;
          case "heartbeatAck":
            break;
          case "commandDispatch":
            this.handleDispatch(outbound, p.value);
            break;
          case "commandCancel": {
            const r = this.running.get(p.value.commandId);
            r?.controller.abort(new CommandFailure("canceled", p.value.reason || "canceled by the console"));
            break;
          }
          default:
            break;
        }
      }
    } finally {
      this.stopHeartbeats();
      outbound.end();
      if (this.outbound === outbound) this.outbound = null;
      // Results of commands still running can no longer be delivered: the console has failed them.
      for (const r of this.running.values()) r.controller.abort(new CommandFailure("canceled", "connection to console lost"));
    }
  }

  private startHeartbeats(outbound: AsyncQueue<Outbound>, sessionId: string, consoleIntervalSec: number): void {
    this.stopHeartbeats();
    const intervalSec =
      consoleIntervalSec > 0 ? Math.min(consoleIntervalSec, this.config.heartbeatIntervalSec) : this.config.heartbeatIntervalSec;
    const tick = () => {
      const jitter = 1 + ((Math.random() * 2 - 1) * this.config.heartbeatJitterPct) / 100;
      // Beat early rather than late: the console marks a node offline after 3 missed intervals.
      this.heartbeatTimer = setTimeout(
        () => {
          outbound.push({ payload: { case: "heartbeat", value: { nodeId: this.config.nodeId, sessionId } } });
          tick();
        },
        Math.max(200, intervalSec * 1000 * Math.min(jitter, 1)),
      );
      this.heartbeatTimer.unref();
    };
    tick();
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private handleDispatch(outbound: AsyncQueue<Outbound>, d: CommandDispatch): void {
    const log = this.log.child({ command_id: d.commandId, capability: d.capability });
    const reply = (result: { payload?: unknown; error?: { code: ErrorCode; message: string } }) => {
      outbound.push({
        payload: {
          case: "commandResult",
          value: {
            commandId: d.commandId,
            error: result.error,
            payloadJson: result.error ? new Uint8Array() : encoder.encode(JSON.stringify(result.payload ?? null)),
            completedUnixMs: BigInt(Date.now()),
          },
        },
      });
    };
    if (this.draining) {
      reply({ error: { code: "no_capacity", message: "the worker is shutting down" } });
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
      payload = JSON.parse(new TextDecoder().decode(d.payloadJson));
    } catch {
      reply({ error: { code: "invalid_argument", message: "payload is not valid JSON" } });
      return;
    }
    const controller = new AbortController();
    const deadline = Number(d.deadlineUnixMs) || Date.now() + 60_000;
    const timer = setTimeout(
      () => controller.abort(new CommandFailure("deadline_exceeded", "the command did not finish before its deadline")),
      Math.max(0, deadline - Date.now()),
    );
    this.running.set(d.commandId, { controller, capability: cap.name });
    this.inflight.set(cap.name, used + 1);
    let seq = 0;
    const emitOutput = d.streamOutput
      ? (stream: "stdout" | "stderr", data: Uint8Array) => {
          outbound.push({
            payload: {
              case: "outputChunk",
              value: {
                commandId: d.commandId,
                stream: stream === "stderr" ? OutputChunk_Stream.STDERR : OutputChunk_Stream.STDOUT,
                data,
                seq: seq++,
              },
            },
          });
        }
      : undefined;
    const started = Date.now();
    const work = cap.run(payload, {
      commandId: d.commandId,
      deadlineUnixMs: deadline,
      signal: controller.signal,
      emitOutput,
      log,
    });
    // Whichever comes first: the result, or the abort (cancel/deadline), so the console hears at once.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
    });
    Promise.race([work, aborted])
      .then((result) => {
        reply({ payload: result });
        log.debug("command done", { ms: Date.now() - started });
      })
      .catch((err: unknown) => {
        const failure =
          err instanceof CommandFailure
            ? err
            : new CommandFailure("worker_error", err instanceof Error ? err.message : String(err));
        if (!(err instanceof CommandFailure)) log.error("command failed unexpectedly", { error: String(err) });
        reply({ error: { code: failure.code, message: failure.message } });
      })
      .finally(() => {
        clearTimeout(timer);
        this.running.delete(d.commandId);
        this.inflight.set(cap.name, Math.max(0, (this.inflight.get(cap.name) ?? 1) - 1));
        if (this.running.size === 0) this.idle?.();
      });
    // The capability's own promise may settle after the race: never leave it unhandled.
    work.catch(() => {});
  }

  /**
   * Graceful stop: take no new work (capabilities withdrawn), let running commands finish
   * within the grace period, cancel the rest, then close the connection.
   */
  async stop(graceMs = this.config.shutdownGraceSec * 1000): Promise<void> {
    if (this.stopped) return;
    this.draining = true;
    this.announceCapabilities();
    if (this.running.size > 0) {
      this.log.info("waiting for running commands", { count: this.running.size, grace_ms: graceMs });
      await Promise.race([
        new Promise<void>((r) => {
          this.idle = r;
        }),
        sleep(graceMs),
      ]);
      for (const r of this.running.values()) r.controller.abort(new CommandFailure("canceled", "the worker is shutting down"));
      // Give the cancel results a moment to reach the console.
      await sleep(100);
    }
    this.stopped = true;
    this.stopHeartbeats();
    this.outbound?.end();
    this.stopController.abort();
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
