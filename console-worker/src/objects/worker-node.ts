import { DurableObject } from "cloudflare:workers";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type CapabilityDeclaration,
  type ConnectHello,
  type ConnectRequest,
  ConnectResponseSchema,
  type ErrorBody,
  FILE_CHUNK_BYTES,
  FILE_CHUNK_WINDOW,
  type FileChunk,
  OutputChunk_Stream,
} from "@onlyboxes/proto";
import type { Env } from "../env.ts";
import type { OutputChunk } from "../lib/dispatch.ts";
import { accountLimits } from "../lib/limits.ts";
import { MessageCounter } from "../metrics/message-counter.ts";
import type { NodeMetrics } from "../metrics/node-metrics.ts";
import { decodeRequest, encodeEndStream, encodeResponse } from "../rpc/envelope.ts";
import { CLOSE_INVALID_CLAIM, checkCapabilities, checkHello, WORKER_CLAIM_LIMITS } from "../rpc/worker-claims.ts";
import { type CapabilitySlot, nodeRegistryStub } from "./node-registry.ts";

/** A command as the caller hands it to the node. */
export interface DispatchFrame {
  commandId: string;
  capability: string;
  payloadJson: string;
  deadlineUnixMs: number;
  streamOutput: boolean;
}

/** Whether and for whom a dispatch may wait for a slot when the capability is full. */
export interface Admission {
  /** The account the command runs for: waiting commands are served round-robin across accounts. */
  accountId: string;
  /** Wait in the node's queue (until the deadline) instead of answering `no_capacity` at once. */
  wait: boolean;
}

/** How a download started: the file's announced size and type and its bytes, or why not. */
export type DownloadOutcome =
  | { ok: true; size: number; mimeType: string; body: ReadableStream<Uint8Array> }
  | { ok: false; code: string; message: string; notDelivered?: boolean };

/** How a dispatched command ended, as plain data (errors do not keep their fields across RPC). */
export type DispatchOutcome =
  | { ok: true; payloadJson: string }
  | { ok: false; code: string; message: string; notDelivered?: boolean };

interface Attachment {
  connId: string;
  nodeId: string;
  hello: boolean;
}

/** A socket together with its decoded attachment. */
interface LiveSocket {
  ws: WebSocket;
  att: Attachment;
}

interface Pending {
  connId: string;
  capability: string;
  /** When the console stops waiting for a worker that never answers (the deadline plus grace). */
  backstopAt: number;
  settle: (o: DispatchOutcome) => void;
  onOutput?: (chunk: OutputChunk) => unknown;
  /** Output deliveries in order; the result waits for them so no chunk arrives after it. */
  outputChain: Promise<void>;
  /** Download pieces from the worker (sessionFiles read). */
  onFileChunk?: (chunk: FileChunk) => void;
  /** Acknowledgements of upload pieces (sessionFiles write). */
  onFileAck?: (seq: number) => void;
}

/** What a running command reports to besides its outcome. */
type CommandHooks = Pick<Pending, "onOutput" | "onFileChunk" | "onFileAck">;

/** A command sent (its outcome to come, and a way to settle it early), or why it was not. */
type Started = { outcome: Promise<DispatchOutcome>; settle: (o: DispatchOutcome) => void } | (DispatchOutcome & { ok: false });

/** A command waiting for a slot: `admit` starts it, `refuse` answers it without a slot. */
interface Waiter {
  commandId: string;
  admit: () => void;
  refuse: (o: DispatchOutcome) => void;
}

/** The node's fixed timings and sizes, in one place so they can be read side by side. */
const NODE_LIMITS = {
  /** Longest the result waits for the caller to take earlier output chunks. */
  outputFlushMs: 1_000,
  /** An upload whose body sends nothing for this long is abandoned (canceled on the worker). */
  uploadIdleMs: 20_000,
  /** Heartbeat interval asked of workers unless CONSOLE_HEARTBEAT_INTERVAL_SEC says otherwise. */
  defaultHeartbeatSec: 5,
  /** A node silent for this many heartbeat intervals is offline. */
  missedBeats: 3,
  /** Time past the deadline the console waits for the worker's own deadline answer. */
  deadlineGraceMs: 250,
  /** How often heartbeats refresh last_seen_at in D1 (every beat would be write-heavy). */
  lastSeenWriteMs: 10_000,
  /** Largest frame a worker may send (a command result); workerd refuses larger messages itself. */
  maxFrameBytes: 32 * 1024 * 1024,
} as const;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * One per worker node: holds the node's hibernatable WebSocket, speaks the Connect
 * envelope protocol on it, and resolves the commands dispatched to it. The newest
 * connection for a node replaces the older; losing the connection (close, or missed
 * heartbeats) fails every pending command at once with `worker_disconnected`.
 */
export class WorkerNode extends DurableObject<Env> {
  private nodeId = "";
  private currentConn: string | null = null;
  private lastSeen = 0;
  private lastSeenWritten = 0;
  private readonly pending = new Map<string, Pending>();
  /**
   * What the connected worker declared: slots per capability. How many run now is counted
   * from `pending`, the one record of running commands, so a capabilities update arriving
   * mid-command can never leave a count behind.
   */
  private readonly caps = new Map<string, number>();
  private readonly messages = new MessageCounter();
  /** Commands waiting for a slot, per capability: the admission queue (see `dispatch`). */
  private readonly queues = new Map<string, AdmissionQueue>();
  /** The hello and capabilities updates being applied, in arrival order (see `inOrder`). */
  private control: Promise<void> = Promise.resolve();
  /**
   * The current connection's socket (past its hello) and its attachment, as `currentSocket`
   * last found them: every dispatch and every frame would otherwise list the sockets and
   * decode an attachment again. Dropped when any socket closes; refound after hibernation.
   */
  private live: LiveSocket | null = null;
  /** The backstop timer of the pending commands and the time it is armed for (see `armBackstop`). */
  private backstop: { at: number; timer: ReturnType<typeof setTimeout> } | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const s = await ctx.storage.get<string>(["nodeId", "currentConn"]);
      this.nodeId = s.get("nodeId") ?? "";
      this.currentConn = s.get("currentConn") ?? null;
      this.setCaps((await ctx.storage.get<CapabilitySlot[]>("caps")) ?? []);
      await this.messages.load(ctx.storage);
      // lastSeen stays 0 after a wake-up: each heartbeat moves the alarm to lastSeen + the
      // offline window, so an alarm that wakes this object means the window has passed.
    });
  }

  private get heartbeatSec(): number {
    const n = Number(this.env.CONSOLE_HEARTBEAT_INTERVAL_SEC ?? NODE_LIMITS.defaultHeartbeatSec);
    return Number.isFinite(n) && n > 0 ? n : NODE_LIMITS.defaultHeartbeatSec;
  }

  /** Accepts the worker's WebSocket; the route has already checked its credential. */
  override async fetch(request: Request): Promise<Response> {
    const nodeId = request.headers.get("x-onlyboxes-node-id") ?? "";
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !nodeId) {
      return Response.json({ error: "expected a WebSocket upgrade", code: "upgrade_required" } satisfies ErrorBody, {
        status: 426,
      });
    }
    const { 0: client, 1: server } = new WebSocketPair();
    const connId = crypto.randomUUID();
    const previous = this.currentConn;
    this.nodeId = nodeId;
    this.currentConn = connId;
    await this.ctx.storage.put({ nodeId, currentConn: connId });
    for (const old of this.ctx.getWebSockets()) {
      this.closeSocket(old, 4000, "aborted", "replaced by a newer connection of the same worker");
    }
    if (previous) this.failPending(previous, "worker_disconnected", "the worker reconnected; the command was lost");
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ connId, nodeId, hello: false } satisfies Attachment);
    this.lastSeen = Date.now();
    await this.ctx.storage.setAlarm(Date.now() + this.heartbeatSec * NODE_LIMITS.missedBeats * 1000);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.messages.received();
    const att = ws === this.live?.ws ? this.live.att : (ws.deserializeAttachment() as Attachment | null);
    if (!att || att.connId !== this.currentConn) {
      this.closeSocket(ws, 4000, "aborted", "connection replaced");
      return;
    }
    if (typeof message === "string") {
      this.closeSocket(ws, 1003, "invalid_argument", "expected binary Connect envelopes");
      return;
    }
    // Before the hello only a hello may come, and a hello is small: refuse a large frame
    // without decoding it. After the hello, results may be large but not unbounded.
    const maxBytes = att.hello ? NODE_LIMITS.maxFrameBytes : WORKER_CLAIM_LIMITS.controlFrameBytes;
    if (message.byteLength > maxBytes) {
      await this.refuse(ws, att, 1009, "resource_exhausted", `frame of ${message.byteLength} bytes exceeds ${maxBytes}`);
      return;
    }
    let req: ConnectRequest | null;
    try {
      req = decodeRequest(new Uint8Array(message));
    } catch (err) {
      this.closeSocket(ws, 1007, "invalid_argument", `malformed frame: ${String(err)}`);
      return;
    }
    if (req === null) {
      // The worker ended its stream: treat as a clean disconnect.
      this.closeSocket(ws, 1000, "", "");
      await this.goOffline(att.connId, "worker_disconnected", "the worker closed its connection");
      return;
    }
    const p = req.payload;
    if (
      p.case !== "commandResult" &&
      p.case !== "outputChunk" &&
      p.case !== "fileChunk" &&
      message.byteLength > WORKER_CLAIM_LIMITS.controlFrameBytes
    ) {
      await this.refuse(
        ws,
        att,
        1009,
        "resource_exhausted",
        `${p.case ?? "unknown"} frame of ${message.byteLength} bytes is too large`,
      );
      return;
    }
    this.lastSeen = Date.now();
    switch (p.case) {
      case "hello":
        // The hello and capabilities updates apply in arrival order, each after the one
        // before has finished: an update sent right behind the hello (a worker that says
        // hello before its Docker is ready) waits for it instead of finding no hello yet.
        await this.inOrder(() => this.onHello(ws, att, p.value));
        return;
      case "heartbeat": {
        this.send(ws, { case: "heartbeatAck", value: { heartbeatIntervalSec: this.heartbeatSec } });
        await this.messages.save(this.ctx.storage);
        await this.ctx.storage.setAlarm(this.lastSeen + this.heartbeatSec * NODE_LIMITS.missedBeats * 1000);
        if (this.lastSeen - this.lastSeenWritten >= NODE_LIMITS.lastSeenWriteMs) {
          this.lastSeenWritten = this.lastSeen;
          await this.env.DB.prepare("UPDATE workers SET last_seen_at = ?, status = 'online' WHERE node_id = ?")
            .bind(this.lastSeen, att.nodeId)
            .run();
        }
        return;
      }
      case "commandResult": {
        const r = p.value;
        const pend = this.pending.get(r.commandId);
        if (!pend) return;
        const outcome: DispatchOutcome = r.error?.code
          ? { ok: false, code: r.error.code, message: r.error.message }
          : { ok: true, payloadJson: decoder.decode(r.payloadJson) };
        if (pend.onOutput)
          await Promise.race([pend.outputChain, new Promise((res) => setTimeout(res, NODE_LIMITS.outputFlushMs))]);
        pend.settle(outcome);
        return;
      }
      case "outputChunk": {
        const pend = this.pending.get(p.value.commandId);
        if (!pend?.onOutput) return;
        const stream = p.value.stream === OutputChunk_Stream.STDERR ? "stderr" : "stdout";
        const onOutput = pend.onOutput;
        const chunk = { stream, data: p.value.data } as const;
        // A caller that stopped listening must not break the node: failures are dropped.
        pend.outputChain = pend.outputChain
          .then(async () => {
            await onOutput(chunk);
          })
          .catch(() => {});
        return;
      }
      case "fileChunk":
        this.pending.get(p.value.commandId)?.onFileChunk?.(p.value);
        return;
      case "fileChunkAck":
        this.pending.get(p.value.commandId)?.onFileAck?.(p.value.seq);
        return;
      case "capabilitiesUpdate":
        await this.inOrder(() => this.onCapabilitiesUpdate(ws, att.connId, p.value.capabilities));
        return;
      default:
        return;
    }
  }

  /** Runs control-frame handlers one after another, in the order their frames arrived. */
  private inOrder(handler: () => Promise<void>): Promise<void> {
    const next = this.control.then(handler);
    // A failed handler must not stop the ones queued behind it (its socket is refused or closed).
    this.control = next.catch(() => {});
    return next;
  }

  /** The worker's hello: checks its claim, records it in D1 and the registry, then acknowledges. */
  private async onHello(ws: WebSocket, att: Attachment, hello: ConnectHello): Promise<void> {
    if (hello.nodeId !== att.nodeId) {
      this.closeSocket(ws, 4003, "permission_denied", "hello.node_id does not match the credential");
      return;
    }
    const checked = checkHello(hello, accountLimits(this.env).workerMaxInflight);
    if (!checked.ok) {
      await this.refuse(ws, att, CLOSE_INVALID_CLAIM, "invalid_argument", `hello refused: ${checked.reason}`);
      return;
    }
    const { caps, labels } = checked.value;
    const updated = await this.env.DB.prepare(
      "UPDATE workers SET node_name = ?, executor_kind = ?, capabilities = ?, labels = ?, version = ?, status = 'online', last_seen_at = ? WHERE node_id = ?",
    )
      .bind(
        checked.value.nodeName,
        checked.value.executorKind,
        capsColumn(caps),
        JSON.stringify(labels),
        checked.value.version,
        this.lastSeen,
        att.nodeId,
      )
      .run();
    if (updated.meta.changes === 0) {
      this.closeSocket(ws, 4003, "permission_denied", "worker credential revoked");
      await this.goOffline(att.connId, "worker_disconnected", "worker credential revoked");
      return;
    }
    this.lastSeenWritten = this.lastSeen;
    this.setCaps(caps);
    await this.ctx.storage.put("caps", caps);
    await nodeRegistryStub(this.env).register(att.nodeId, att.connId, caps, labels);
    // The socket may have closed (or been replaced) while we awaited: undo the registration.
    if (this.currentConn !== att.connId) {
      await nodeRegistryStub(this.env).unregister(att.nodeId, att.connId);
      return;
    }
    ws.serializeAttachment({ ...att, hello: true } satisfies Attachment);
    this.send(ws, {
      case: "connectAck",
      value: { sessionId: att.connId, heartbeatIntervalSec: this.heartbeatSec },
    });
  }

  /** A connected worker's new capabilities (Docker came up, or it is draining). */
  private async onCapabilitiesUpdate(ws: WebSocket, connId: string, capabilities: CapabilityDeclaration[]): Promise<void> {
    // Read now, not when the frame arrived: a hello ahead of it may have completed since.
    const att = ws.deserializeAttachment() as Attachment | null;
    if (!att?.hello || att.connId !== connId || this.currentConn !== connId) return;
    const checked = checkCapabilities(capabilities, accountLimits(this.env).workerMaxInflight);
    if (!checked.ok) {
      await this.refuse(ws, att, CLOSE_INVALID_CLAIM, "invalid_argument", `capabilities update refused: ${checked.reason}`);
      return;
    }
    const caps = checked.value;
    await this.env.DB.prepare("UPDATE workers SET capabilities = ? WHERE node_id = ?").bind(capsColumn(caps), att.nodeId).run();
    this.setCaps(caps);
    await this.ctx.storage.put("caps", caps);
    const labels = JSON.parse(
      (await this.env.DB.prepare("SELECT labels FROM workers WHERE node_id = ?").bind(att.nodeId).first<string>("labels")) ??
        "{}",
    ) as Record<string, string>;
    await nodeRegistryStub(this.env).register(att.nodeId, att.connId, caps, labels);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.live = null;
    const att = ws.deserializeAttachment() as Attachment | null;
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
    await this.messages.save(this.ctx.storage);
    if (att) await this.goOffline(att.connId, "worker_disconnected", "the worker disconnected while running the command");
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.live = null;
    const att = ws.deserializeAttachment() as Attachment | null;
    if (att) await this.goOffline(att.connId, "worker_disconnected", "the worker connection failed");
  }

  override async alarm(): Promise<void> {
    if (!this.currentConn) return;
    const deadline = this.lastSeen + this.heartbeatSec * NODE_LIMITS.missedBeats * 1000;
    if (Date.now() < deadline) {
      await this.ctx.storage.setAlarm(deadline);
      return;
    }
    const conn = this.currentConn;
    for (const ws of this.ctx.getWebSockets()) this.closeSocket(ws, 4001, "unavailable", "missed heartbeats");
    await this.goOffline(conn, "worker_disconnected", "the worker stopped answering heartbeats");
  }

  /**
   * Sends one command to the connected worker and waits for its result, the deadline, a
   * cancel, or the connection's loss. The node's own slots decide: when the capability is
   * full, a caller that may wait (`admission.wait`) queues for a slot until its deadline,
   * served in arrival order per account and round-robin between accounts; otherwise (or
   * when the queue holds CONSOLE_QUEUE_MAX already, or the deadline passes first) it gets
   * `no_capacity` (not delivered), so it can try another node.
   */
  async dispatch(
    frame: DispatchFrame,
    onOutput?: (chunk: OutputChunk) => unknown,
    admission?: Admission,
  ): Promise<DispatchOutcome> {
    const started = this.start(frame, { onOutput }, admission);
    return await (started instanceof Promise ? started : this.outcomeOf(started));
  }

  /**
   * Dispatches a command that uploads a file: after the dispatch, `body` is read and sent
   * in FILE_CHUNK_BYTES pieces, at most FILE_CHUNK_WINDOW of them unacknowledged, so the
   * console holds a window of the file, never the file. More than `maxBytes` ends the
   * command with `file_too_large`; a body that fails (the client went away) cancels it.
   */
  async upload(frame: DispatchFrame, body: ReadableStream<Uint8Array>, maxBytes: number): Promise<DispatchOutcome> {
    let acked = -1;
    let wake: (() => void) | null = null;
    const started = this.start(frame, {
      onFileAck: (seq) => {
        if (seq > acked) acked = seq;
        wake?.();
      },
    });
    if (!("outcome" in started)) {
      await body.cancel().catch(() => {});
      return await this.notSent(started);
    }
    let settled = false;
    const outcome = started.outcome.finally(() => {
      settled = true;
      wake?.();
    });
    const reader = body.getReader();
    const fail = (code: string, message: string) => {
      this.sendCancel(frame.commandId, message);
      started.settle({ ok: false, code, message });
    };
    let seq = 0;
    let total = 0;
    const sendPiece = async (data: Uint8Array, last: boolean): Promise<boolean> => {
      while (!settled && seq - acked - 1 >= FILE_CHUNK_WINDOW) {
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = null;
      }
      if (settled) return false;
      this.sendFileChunk(frame.commandId, { seq: seq++, data, last });
      return true;
    };
    let idle: ReturnType<typeof setTimeout> | undefined;
    let stallReject: (err: Error) => void = () => {};
    const stalled = new Promise<never>((_, reject) => {
      stallReject = reject;
    });
    stalled.catch(() => {});
    try {
      for (;;) {
        // A client that stops sending (or vanished without the body failing) frees the session.
        idle = setTimeout(() => stallReject(new Error("upload stalled")), NODE_LIMITS.uploadIdleMs);
        const { done, value } = await Promise.race([reader.read(), stalled]);
        clearTimeout(idle);
        if (done) {
          await sendPiece(new Uint8Array(), true);
          break;
        }
        total += value.byteLength;
        if (total > maxBytes) {
          fail("file_too_large", `the file is larger than the limit of ${maxBytes} bytes`);
          break;
        }
        let ok = true;
        for (let off = 0; ok && off < value.byteLength; off += FILE_CHUNK_BYTES) {
          ok = await sendPiece(value.subarray(off, off + FILE_CHUNK_BYTES), false);
        }
        if (!ok) break;
      }
    } catch {
      fail("canceled", "the upload ended before the whole file arrived");
    } finally {
      clearTimeout(idle);
      if (settled || total > maxBytes) await reader.cancel().catch(() => {});
      try {
        reader.releaseLock();
      } catch {
        // A read still pending after a stall: the cancel above ends it.
      }
    }
    return await outcome;
  }

  /**
   * Dispatches a command that downloads a file: answers once the worker's first piece
   * announced the size and type, with a stream the later pieces flow into. A piece is
   * acknowledged only once the reader took it, so a slow reader slows the worker instead
   * of filling memory; a reader that goes away cancels the command.
   */
  async download(frame: DispatchFrame): Promise<DownloadOutcome> {
    const pipe = new IdentityTransformStream();
    const writer = pipe.writable.getWriter();
    let announce: (o: DownloadOutcome) => void = () => {};
    const announced = new Promise<DownloadOutcome>((r) => {
      announce = r;
    });
    let chain: Promise<void> = Promise.resolve();
    let settleEarly: (o: DispatchOutcome) => void = () => {};
    let first = true;
    let lastSeen = false;
    const started = this.start(frame, {
      onFileChunk: (chunk) => {
        if (first) {
          first = false;
          announce({ ok: true, size: Number(chunk.totalSize), mimeType: chunk.mimeType, body: pipe.readable });
        }
        if (chunk.last) lastSeen = true;
        const { seq, data, commandId } = chunk;
        chain = chain
          .then(async () => {
            if (data.byteLength > 0) await writer.write(data);
            this.sendFileAck(commandId, seq);
          })
          .catch(() => {
            this.sendCancel(frame.commandId, "the reader went away");
            settleEarly({ ok: false, code: "canceled", message: "the download's reader went away" });
          });
      },
    });
    if (!("outcome" in started)) return await this.notSent(started);
    settleEarly = started.settle;
    void started.outcome.then(async (o) => {
      if (first) {
        announce(o.ok ? { ok: false, code: "worker_error", message: "the worker sent no file" } : o);
        return;
      }
      await chain;
      if (o.ok && lastSeen) await writer.close().catch(() => {});
      else await writer.abort(new Error(o.ok ? "the file ended early" : o.message)).catch(() => {});
    });
    return await announced;
  }

  /** Answers a command that was not sent; a stale caller view corrects the registry so the next placement goes elsewhere. */
  private async notSent<T extends DispatchOutcome & { ok: false }>(o: T): Promise<T> {
    if (o.code === "worker_disconnected" && this.currentConn === null) await nodeRegistryStub(this.env).unregister(this.nodeId);
    return o;
  }

  /**
   * Checks the node can take the command, records it as pending and sends the dispatch.
   * Answers the outcome to come (and a way to settle it early), or why it was not sent.
   * With `admission.wait`, a full capability queues the command for a slot until its
   * deadline and answers the outcome once it ran (or was refused).
   */
  private start(frame: DispatchFrame, hooks: CommandHooks): Started;
  private start(frame: DispatchFrame, hooks: CommandHooks, admission?: Admission): Started | Promise<DispatchOutcome>;
  private start(frame: DispatchFrame, hooks: CommandHooks, admission?: Admission): Started | Promise<DispatchOutcome> {
    if (!this.currentSocket()) {
      return { ok: false, code: "worker_disconnected", message: "the worker is not connected", notDelivered: true };
    }
    const max = this.caps.get(frame.capability);
    if (max === undefined) {
      return { ok: false, code: "no_worker", message: `this worker does not offer ${frame.capability}`, notDelivered: true };
    }
    const queue = this.queues.get(frame.capability);
    // Newcomers never pass those already waiting.
    if (this.running(frame.capability) < max && (queue === undefined || queue.size === 0)) return this.launch(frame, hooks);
    if (!admission?.wait) {
      return { ok: false, code: "no_capacity", message: `${frame.capability} is at capacity on this worker`, notDelivered: true };
    }
    const bound = queueMax(this.env);
    const q = queue ?? new AdmissionQueue();
    this.queues.set(frame.capability, q);
    if (q.size >= bound) {
      return {
        ok: false,
        code: "no_capacity",
        message: `${frame.capability} is at capacity on this worker and ${bound} calls already wait for a slot`,
        notDelivered: true,
      };
    }
    return new Promise<DispatchOutcome>((resolve) => {
      const timer = setTimeout(
        () => {
          if (q.remove(waiter))
            resolve({
              ok: false,
              code: "no_capacity",
              message: `${frame.capability} is at capacity on this worker and no slot freed before the deadline`,
              notDelivered: true,
            });
        },
        Math.max(0, frame.deadlineUnixMs - QUEUE_MARGIN_MS - Date.now()),
      );
      const waiter: Waiter = {
        commandId: frame.commandId,
        // Launched synchronously, so the slot is taken before anything else can count it.
        admit: () => {
          clearTimeout(timer);
          resolve(this.outcomeOf(this.launch(frame, hooks)));
        },
        refuse: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
      };
      q.push(admission.accountId, waiter);
    });
  }

  /** The outcome of a command started (or of one that could not be sent). */
  private outcomeOf(s: Started): Promise<DispatchOutcome> {
    return "outcome" in s ? s.outcome : this.notSent(s);
  }

  /** Starts a command in a slot that is free now (the pending entry is made before any await). */
  private launch(frame: DispatchFrame, hooks: CommandHooks): Started {
    const live = this.currentSocket();
    if (!live) return { ok: false, code: "worker_disconnected", message: "the worker is not connected", notDelivered: true };
    const { ws, att } = live;
    let settle: (o: DispatchOutcome) => void = () => {};
    const backstopAt = Math.max(frame.deadlineUnixMs, Date.now()) + NODE_LIMITS.deadlineGraceMs;
    const outcome = new Promise<DispatchOutcome>((resolve) => {
      settle = (o: DispatchOutcome) => {
        if (!this.pending.has(frame.commandId)) return;
        this.pending.delete(frame.commandId);
        resolve(o);
        this.pump(frame.capability);
      };
      this.pending.set(frame.commandId, {
        connId: att.connId,
        capability: frame.capability,
        backstopAt,
        settle,
        outputChain: Promise.resolve(),
        ...hooks,
      });
    });
    this.armBackstop(backstopAt);
    this.send(ws, {
      case: "commandDispatch",
      value: {
        commandId: frame.commandId,
        capability: frame.capability,
        payloadJson: encoder.encode(frame.payloadJson),
        deadlineUnixMs: BigInt(frame.deadlineUnixMs),
        streamOutput: frame.streamOutput,
      },
    });
    return { outcome, settle };
  }

  /**
   * One timer for every pending command's backstop, armed for the earliest: the worker
   * enforces each deadline itself and answers `deadline_exceeded`, so this only ends a
   * command whose worker never answers. Commands mostly arrive with later deadlines than
   * the one armed, so a command usually costs no timer of its own (a timer is a
   * measurable share of a short command's CPU in workerd). The timer may outlive the last
   * command by up to one command's timeout; when it fires with nothing due it stops.
   */
  private armBackstop(at: number): void {
    if (this.backstop && this.backstop.at <= at) return;
    if (this.backstop) clearTimeout(this.backstop.timer);
    this.backstop = { at, timer: setTimeout(() => this.backstopDue(), Math.max(0, at - Date.now())) };
  }

  /** Ends the commands whose backstop has passed, then arms the timer for the next one. */
  private backstopDue(): void {
    this.backstop = null;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [commandId, p] of this.pending) {
      if (p.backstopAt <= now) {
        this.sendCancel(commandId, "deadline exceeded");
        p.settle({ ok: false, code: "deadline_exceeded", message: "the command did not finish before its deadline" });
      } else next = Math.min(next, p.backstopAt);
    }
    if (next !== Number.POSITIVE_INFINITY) this.armBackstop(next);
  }

  /** Hands free slots of `capability` to waiting commands, round-robin between accounts. */
  private pump(capability: string): void {
    const q = this.queues.get(capability);
    if (!q) return;
    const max = this.caps.get(capability) ?? 0;
    while (this.running(capability) < max) {
      const w = q.next();
      if (!w) break;
      w.admit();
    }
    if (q.size === 0) this.queues.delete(capability);
  }

  /** Commands running now, per declared capability. */
  load(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of this.caps.keys()) out[name] = this.running(name);
    return out;
  }

  /** Commands of `capability` waiting for their result (the pending entry is made synchronously at dispatch). */
  private running(capability: string): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.capability === capability) n++;
    return n;
  }

  /** Replaces the declared capabilities; running commands keep counting against their capability. */
  private setCaps(caps: CapabilitySlot[]): void {
    this.caps.clear();
    for (const c of caps) if (c.maxInflight > 0) this.caps.set(c.name, c.maxInflight);
    // A capability withdrawn (a draining worker) fails its waiters so they can go elsewhere.
    for (const [name, q] of this.queues) {
      if (this.caps.has(name)) this.pump(name);
      else {
        q.refuseAll({ ok: false, code: "no_worker", message: `this worker no longer offers ${name}`, notDelivered: true });
        this.queues.delete(name);
      }
    }
  }

  /** Stops a dispatched command: a cancel frame to the worker, `canceled` to the waiting caller. */
  cancel(commandId: string, reason = "canceled by the caller"): boolean {
    const pend = this.pending.get(commandId);
    if (!pend) {
      for (const q of this.queues.values()) {
        const w = q.find((x) => x.commandId === commandId);
        if (w && q.remove(w)) {
          w.refuse({ ok: false, code: "canceled", message: reason });
          return true;
        }
      }
      return false;
    }
    this.sendCancel(commandId, reason);
    pend.settle({ ok: false, code: "canceled", message: reason });
    return true;
  }

  /** What the console's metrics read of this node: its frame counts and its waiting commands per capability. */
  metrics(): NodeMetrics {
    const queued: Record<string, number> = {};
    for (const [name, q] of this.queues) if (q.size > 0) queued[name] = q.size;
    return { messages: this.messages.snapshot(), queued };
  }

  /** Closes the worker's connection at once (its credential was deleted). */
  async revoke(): Promise<void> {
    const conn = this.currentConn;
    for (const ws of this.ctx.getWebSockets()) this.closeSocket(ws, 4003, "permission_denied", "worker credential revoked");
    if (conn) await this.goOffline(conn, "worker_disconnected", "the worker was deleted");
  }

  /** The current connection's socket past its hello, with its attachment; null when there is none. */
  private currentSocket(): LiveSocket | null {
    if (this.live && this.live.att.connId === this.currentConn) return this.live;
    this.live = null;
    for (const ws of this.ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as Attachment | null;
      if (att && att.connId === this.currentConn && att.hello) {
        this.live = { ws, att };
        return this.live;
      }
    }
    return null;
  }

  private sendFileChunk(commandId: string, piece: { seq: number; data: Uint8Array; last: boolean }): void {
    const live = this.currentSocket();
    if (live) this.send(live.ws, { case: "fileChunk", value: { commandId, ...piece } });
  }

  private sendFileAck(commandId: string, seq: number): void {
    const live = this.currentSocket();
    if (live) this.send(live.ws, { case: "fileChunkAck", value: { commandId, seq } });
  }

  private sendCancel(commandId: string, reason: string): void {
    const live = this.currentSocket();
    if (live) this.send(live.ws, { case: "commandCancel", value: { commandId, reason } });
  }

  private send(ws: WebSocket, payload: MessageInitShape<typeof ConnectResponseSchema>["payload"]): void {
    try {
      ws.send(encodeResponse(create(ConnectResponseSchema, { payload })));
      this.messages.sent();
    } catch {
      // The socket is closing; webSocketClose takes care of the rest.
    }
  }

  private closeSocket(ws: WebSocket, code: number, errCode: string, message: string): void {
    if (ws === this.live?.ws) this.live = null;
    try {
      if (errCode) ws.send(encodeEndStream(errCode, message));
      ws.close(code, message.slice(0, 120));
    } catch {
      // Already closed.
    }
  }

  /**
   * Closes a connection whose worker broke the wire's bounds and takes the node offline.
   * What the refused frame claimed is never stored, nor is the contact counted as "seen".
   */
  private async refuse(ws: WebSocket, att: Attachment, code: number, errCode: string, message: string): Promise<void> {
    this.closeSocket(ws, code, errCode, message);
    if (!att.hello) this.lastSeen = 0;
    await this.goOffline(att.connId, "worker_disconnected", `the worker connection was refused: ${message}`);
  }

  private failPending(connId: string, code: string, message: string): void {
    for (const p of [...this.pending.values()]) if (p.connId === connId) p.settle({ ok: false, code, message });
    if (connId !== this.currentConn) return;
    // Waiters never reached the worker: they may try another node.
    for (const q of this.queues.values()) q.refuseAll({ ok: false, code, message, notDelivered: true });
    this.queues.clear();
  }

  /** Marks the node offline if `connId` is still its current connection, and fails what it had in flight. */
  private async goOffline(connId: string, code: string, message: string): Promise<void> {
    this.failPending(connId, code, message);
    if (this.currentConn !== connId) return;
    this.currentConn = null;
    await this.ctx.storage.delete("currentConn");
    await this.ctx.storage.deleteAlarm();
    await nodeRegistryStub(this.env).unregister(this.nodeId, connId);
    await this.env.DB.prepare("UPDATE workers SET status = 'offline', last_seen_at = COALESCE(?, last_seen_at) WHERE node_id = ?")
      .bind(this.lastSeen || null, this.nodeId)
      .run();
  }
}

/** The `workers.capabilities` column as the hello and a capabilities update both write it. */
function capsColumn(caps: readonly CapabilitySlot[]): string {
  return JSON.stringify(caps.map((c) => ({ name: c.name, max_inflight: c.maxInflight })));
}

/**
 * A waiting call gives up this long before its deadline: a slot handed over later could
 * not run the command anyway, and the caller gets its 429 before its own deadline fires.
 */
export const QUEUE_MARGIN_MS = 100;

/** Default of CONSOLE_QUEUE_MAX: calls that may wait for a slot, per node and capability. */
const DEFAULT_QUEUE_MAX = 256;

/** CONSOLE_QUEUE_MAX, or its default when unset or not a positive integer. */
function queueMax(env: Env): number {
  const n = Number(env.CONSOLE_QUEUE_MAX ?? DEFAULT_QUEUE_MAX);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_QUEUE_MAX;
}

/**
 * Waiting commands of one capability: a FIFO per account, and the accounts in the order
 * they are served next, so a busy account cannot starve a quiet one.
 */
export class AdmissionQueue<W = Waiter> {
  private readonly byAccount = new Map<string, W[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(accountId: string, w: W): void {
    const list = this.byAccount.get(accountId);
    if (list) list.push(w);
    else this.byAccount.set(accountId, [w]);
    this.count++;
  }

  /** The next waiter: the first of the account whose turn it is; that account then goes last. */
  next(): W | undefined {
    for (const [accountId, list] of this.byAccount) {
      const w = list.shift();
      this.byAccount.delete(accountId);
      if (list.length > 0) this.byAccount.set(accountId, list);
      if (w === undefined) continue;
      this.count--;
      return w;
    }
    return undefined;
  }

  /** The first waiter matching `pred`, in no particular order. */
  find(pred: (w: W) => boolean): W | undefined {
    for (const list of this.byAccount.values()) {
      const w = list.find(pred);
      if (w !== undefined) return w;
    }
    return undefined;
  }

  /** Takes a waiter out (its deadline passed); false when it was already served. */
  remove(w: W): boolean {
    for (const [accountId, list] of this.byAccount) {
      const i = list.indexOf(w);
      if (i < 0) continue;
      list.splice(i, 1);
      if (list.length === 0) this.byAccount.delete(accountId);
      this.count--;
      return true;
    }
    return false;
  }

  /** Empties the queue, answering each waiter with `o`. */
  refuseAll(this: AdmissionQueue<Waiter>, o: DispatchOutcome): void {
    for (const list of this.byAccount.values()) for (const w of list) w.refuse(o);
    this.byAccount.clear();
    this.count = 0;
  }
}

/** The WorkerNode instance for a node id. */
export function workerNodeStub(env: Env, nodeId: string): DurableObjectStub<WorkerNode> {
  return env.WORKER_NODE.get(env.WORKER_NODE.idFromName(nodeId));
}
