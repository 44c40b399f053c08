import { DurableObject } from "cloudflare:workers";
import {
  type PythonExecResult,
  pythonExecResult,
  TERMINAL_LEASE_SEC,
  type TerminalExecResult,
  terminalExecResult,
} from "@onlyboxes/proto";
import { and, eq } from "drizzle-orm";
import { getDb } from "../db/client.ts";
import { terminalSessions } from "../db/schema.ts";
import type { Env } from "../env.ts";
import { randomHex } from "../lib/crypto.ts";
import { dispatch, type OutputChunk } from "../lib/dispatch.ts";
import { AppError, type ErrorCode } from "../lib/errors.ts";
import { accountLimits } from "../lib/limits.ts";
import { accountLimitsStub } from "./account-limits.ts";

/** Lease moves smaller than this are not mirrored to D1 again. */
const MIRROR_MIN_STEP_MS = 5_000;

/**
 * How far past a session's lease its stored copy is written. A command that renews the
 * lease writes storage only when the new lease passes the stored one, and then stores
 * this much more, so back-to-back commands write about once per this long, not once
 * each. The exact lease and last use stay in the object's memory (see `live`); an object
 * that restarts finds a lease no shorter than the one it last answered, and at most
 * this much longer.
 */
export const LEASE_WRITE_AHEAD_MS = 10_000;

/** Lease bounds of a terminal session, in seconds (the established contract). */
export const LEASE_MIN_SEC = TERMINAL_LEASE_SEC.min;
export const LEASE_DEFAULT_SEC = TERMINAL_LEASE_SEC.default;
export const LEASE_MAX_SEC = TERMINAL_LEASE_SEC.max;

/** Everything the console knows about one session; kept only in this object's storage. */
export interface SessionState {
  accountId: string;
  sessionId: string;
  /** Opaque id the worker keys its container by: never the client's id, so accounts never collide. */
  workerKey: string;
  /** The node the session is pinned to; null until its first command has been placed. */
  nodeId: string | null;
  /** True once a worker has answered a command for this session (the container exists). */
  confirmed: boolean;
  createdAt: number;
  lastUsedAt: number;
  leaseExpiresUnixMs: number;
}

/** The operation holding a session; `until` bounds it so a lost caller cannot wedge it forever. */
interface SessionLock {
  id: string;
  until: number;
}

export interface BeginRequest {
  accountId: string;
  sessionId: string;
  /** Start a new session when none exists under this id. */
  createIfMissing: boolean;
  leaseTtlSec: number;
  /** How long the caller may hold the session before the lock counts as abandoned. */
  holdMs: number;
}

/** What `begin` answers: the session locked for one command, or why not. */
export type BeginResult =
  | { ok: true; lockId: string; workerKey: string; nodeId: string | null; isNew: boolean }
  | { ok: false; code: "session_not_found" | "session_busy" | "account_session_limit"; message: string };

/** What `view` answers. */
export interface SessionSnapshot {
  sessionId: string;
  createdAt: number;
  lastUsedAt: number;
  leaseExpiresUnixMs: number;
  busy: boolean;
}

export interface CommitRequest {
  nodeId: string;
  /** The worker's lease expiry, when it reported one. */
  leaseExpiresUnixMs?: number;
  leaseTtlSec?: number;
}

const STATE_KEY = "state";

/** A lock outlives its command by this much before it counts as abandoned (a lost caller). */
export const LOCK_SLACK_MS = 15_000;

/** Errors meaning the session's container no longer exists where it was pinned. */
export const SESSION_GONE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["session_not_found", "no_worker", "worker_disconnected"]);

/** The capabilities that run inside a session, and what each answers. */
const RESULT_SCHEMAS = { terminalExec: terminalExecResult, pythonExec: pythonExecResult };
export type SessionCapabilityName = keyof typeof RESULT_SCHEMAS;
export type SessionResult<C extends SessionCapabilityName> = C extends "terminalExec" ? TerminalExecResult : PythonExecResult;

/** The payload fields of every session command, filled in by `Session.run`. */
export type SessionPayloadField = "session_id" | "create_if_missing" | "lease_ttl_sec" | "timeout_ms";

/** One command that runs inside an account's session (terminalExec, session-bound pythonExec). */
export interface SessionRunRequest {
  accountId: string;
  sessionId: string;
  createIfMissing: boolean;
  leaseTtlSec: number;
  capability: SessionCapabilityName;
  /** The capability's own payload fields (all but the SessionPayloadField ones). */
  payload: object;
  /** The worker's own limit for the command (`timeout_ms`). */
  workerTimeoutMs: number;
  /** How long the console waits for the worker's answer. */
  dispatchTimeoutMs: number;
  /** Errors after which the worker has removed the session's container (or will): the session ends. */
  endedBy: ErrorCode[];
}

/** What `run` answers: the worker's validated result with the lease now in force, or the error. */
export type SessionRunOutcome =
  | { ok: true; result: TerminalExecResult | PythonExecResult; created: boolean; leaseExpiresUnixMs: number }
  | { ok: false; code: ErrorCode; message: string };

/**
 * One terminal session of one account (named `${accountId}:${sessionId}`): its owner, the
 * node it is pinned to, the worker-side key, the lease (with an alarm at expiry) and the
 * busy lock. Every fact of the session lives in storage, so a console restart loses
 * nothing; every check-and-set runs synchronously, so no other call can interleave with it.
 *
 * The busy lock lives in this instance only: it stands for an operation in flight here, which
 * a restart of the object ends anyway (and the worker refuses a second command in a
 * session by itself). The stored lease runs LEASE_WRITE_AHEAD_MS ahead of the exact one,
 * which this instance keeps in memory: so a command writes storage only when its renewed
 * lease passes the stored one (its first always does), about once per that long when
 * commands come back to back, and a restart never shortens a lease.
 *
 * The D1 `terminal_sessions` row mirrors the session for listing; it is written after the
 * state and failures there never fail a command.
 */
export class Session extends DurableObject<Env> {
  /** D1 row writes, in order (see mirrorSoon). */
  private mirrorChain: Promise<void> = Promise.resolve();
  /** The lease last written to D1 by this instance; null = write the next state. */
  private mirroredLease: number | null = null;
  /** When this instance last set the alarm for; null when unknown or none is set. */
  private alarmAt: number | null = null;
  /** The commands `run` has in flight, by the caller's run id, so `cancel` can reach them. */
  private readonly running = new Map<string, AbortController>();
  /** The operation holding the session, if any (see the class comment). */
  private lock: SessionLock | null = null;
  /**
   * The exact lease and last use, newer than the stored state whose lease is
   * `storedLease` (written LEASE_WRITE_AHEAD_MS ahead); applied by `load` only to that
   * stored state, so any other write to storage wins over it.
   */
  private live: { storedLease: number; leaseExpiresUnixMs: number; lastUsedAt: number } | null = null;

  /**
   * Runs one command in this session: takes the lock (creating the session when asked),
   * dispatches to the node the session is pinned to (any node for a new one), then commits
   * the node and lease. The caller pays one call to this object, not one per step. When
   * the pinned container is gone the session is dropped and the answer is
   * `session_not_found`, unless `createIfMissing` asks for a fresh one (then it is
   * recreated once, anywhere). `cancel(runId)` stops the command on its worker.
   */
  async run(runId: string, req: SessionRunRequest, onOutput?: (c: OutputChunk) => unknown): Promise<SessionRunOutcome> {
    const abort = new AbortController();
    this.running.set(runId, abort);
    try {
      return await this.runLocked(req, abort.signal, onOutput);
    } catch (err) {
      const e = AppError.from(err);
      if (e.code === "internal")
        console.error(JSON.stringify({ level: "error", msg: "session command failed", error: String(err) }));
      return { ok: false, code: e.code, message: e.message };
    } finally {
      this.running.delete(runId);
    }
  }

  /** Cancels a command `run` has in flight (its caller went away or asked to stop). */
  cancel(runId: string): void {
    this.running.get(runId)?.abort();
  }

  private async runLocked(
    req: SessionRunRequest,
    signal: AbortSignal,
    onOutput?: (c: OutputChunk) => unknown,
  ): Promise<SessionRunOutcome> {
    const endedBy = new Set(req.endedBy);
    for (let attempt = 0; ; attempt++) {
      // The session's lock is the command's admission: a session runs one command at a
      // time, and the account's open sessions are bounded (CONSOLE_ACCOUNT_MAX_SESSIONS).
      const lease = await this.begin({
        accountId: req.accountId,
        sessionId: req.sessionId,
        createIfMissing: req.createIfMissing,
        leaseTtlSec: req.leaseTtlSec,
        holdMs: req.dispatchTimeoutMs + LOCK_SLACK_MS,
      });
      if (!lease.ok) return lease;

      let placedOn = lease.nodeId;
      let raw: unknown;
      try {
        raw = await dispatch(this.env, {
          accountId: req.accountId,
          capability: req.capability,
          payload: {
            ...req.payload,
            session_id: lease.workerKey,
            create_if_missing: lease.isNew || req.createIfMissing,
            lease_ttl_sec: req.leaseTtlSec,
            timeout_ms: req.workerTimeoutMs,
          },
          timeoutMs: req.dispatchTimeoutMs,
          ...(lease.nodeId !== null ? { nodeId: lease.nodeId } : {}),
          onPlaced: (p) => {
            placedOn = p.nodeId;
          },
          ...(onOutput ? { onOutput } : {}),
          signal,
        });
      } catch (err) {
        const e = AppError.from(err);
        if (endedBy.has(e.code) || lease.isNew) {
          await this.drop(lease.lockId);
          throw e;
        }
        if (SESSION_GONE.has(e.code)) {
          await this.drop(lease.lockId);
          if (req.createIfMissing && attempt === 0) continue;
          throw new AppError("session_not_found", "session not found", e);
        }
        await this.release(lease.lockId);
        throw e;
      }

      const parsed = RESULT_SCHEMAS[req.capability].safeParse(raw);
      if (!parsed.success || placedOn === null) {
        await this.release(lease.lockId);
        throw new AppError("worker_error", `worker returned an invalid ${req.capability} result`);
      }
      const leaseExpiresUnixMs = parsed.data.lease_expires_unix_ms;
      const committed = await this.commit(lease.lockId, {
        nodeId: placedOn,
        leaseTtlSec: req.leaseTtlSec,
        ...(leaseExpiresUnixMs !== undefined ? { leaseExpiresUnixMs } : {}),
      });
      return { ok: true, result: parsed.data, created: lease.isNew, leaseExpiresUnixMs: committed.leaseExpiresUnixMs };
    }
  }

  /**
   * Locks the session for one command; creates it when missing and allowed, if the account
   * is below its open-session limit (asked of the account's AccountLimits object).
   */
  async begin(req: BeginRequest): Promise<BeginResult> {
    const existing = await this.lockExisting(req);
    if (existing) return existing;
    if (!req.createIfMissing) {
      return { ok: false, code: "session_not_found", message: "session not found" };
    }
    const limits = accountLimits(this.env);
    const leaseMs = Math.min(clampLease(req.leaseTtlSec) * 1000, limits.sessionMaxLifetimeMs);
    const admitted = await accountLimitsStub(this.env, req.accountId).acquireSession(
      req.accountId,
      req.sessionId,
      Date.now() + Math.max(leaseMs, req.holdMs),
      limits.maxSessions,
    );
    if (!admitted.ok) {
      return {
        ok: false,
        code: "account_session_limit",
        message: `account_session_limit: this account already has ${admitted.held} open sessions (the limit is ${limits.maxSessions}); reuse or delete one, or let its lease expire`,
      };
    }
    // Another begin for this id may have created the session while we waited: use it.
    const raced = await this.lockExisting(req);
    if (raced) return raced;
    const now = Date.now();
    const lockId = randomHex(8);
    const fresh: SessionState = {
      accountId: req.accountId,
      sessionId: req.sessionId,
      workerKey: `ks_${randomHex(16)}`,
      nodeId: null,
      confirmed: false,
      createdAt: now,
      lastUsedAt: now,
      leaseExpiresUnixMs: now + leaseMs,
    };
    this.lock = { id: lockId, until: now + req.holdMs };
    await this.save(fresh);
    return { ok: true, lockId, workerKey: fresh.workerKey, nodeId: null, isNew: true };
  }

  /** Until when this session may live (its lease, or its lock if later); null when it is gone. */
  liveUntil(): number | null {
    const state = this.load();
    if (!state || this.expireIfDue(state, Date.now())) return null;
    return Math.max(state.leaseExpiresUnixMs, this.lock?.until ?? 0);
  }

  /** The session as its owner sees it; null when it is gone or belongs to another account. */
  view(accountId: string): SessionSnapshot | null {
    const state = this.load();
    if (!state || state.accountId !== accountId || this.expireIfDue(state, Date.now())) return null;
    return {
      sessionId: state.sessionId,
      createdAt: state.createdAt,
      lastUsedAt: state.lastUsedAt,
      leaseExpiresUnixMs: state.leaseExpiresUnixMs,
      busy: this.lock !== null,
    };
  }

  /**
   * Ends the session now, busy or not (a command or transfer in it then fails): forgets it
   * and answers where its container is, so the caller can have the worker remove it.
   * Null when it is gone or belongs to another account.
   */
  async end(accountId: string): Promise<{ workerKey: string; nodeId: string | null } | null> {
    const state = this.load();
    if (!state || state.accountId !== accountId || this.expireIfDue(state, Date.now())) return null;
    await this.forget(state);
    return { workerKey: state.workerKey, nodeId: state.nodeId };
  }

  /** Locks an existing live session of this account; null when there is none. */
  private async lockExisting(req: BeginRequest): Promise<BeginResult | null> {
    const now = Date.now();
    let state = this.load();
    if (state && state.accountId !== req.accountId) state = undefined;
    if (state && this.expireIfDue(state, now)) state = undefined;
    if (!state) return null;
    if (this.lock) return { ok: false, code: "session_busy", message: "session is busy with another command" };
    const lockId = randomHex(8);
    this.lock = { id: lockId, until: now + req.holdMs };
    await this.schedule(state);
    return { ok: true, lockId, workerKey: state.workerKey, nodeId: state.nodeId, isNew: false };
  }

  /**
   * Records a command that succeeded: pins the node (first command), extends the lease
   * monotonically and frees the session. Answers the lease now in force.
   */
  private async commit(lockId: string, req: CommitRequest): Promise<{ ok: boolean; leaseExpiresUnixMs: number }> {
    const now = Date.now();
    const fallback = now + clampLease(req.leaseTtlSec ?? LEASE_DEFAULT_SEC) * 1000;
    const reported =
      req.leaseExpiresUnixMs !== undefined && Number.isFinite(req.leaseExpiresUnixMs) && req.leaseExpiresUnixMs > now
        ? req.leaseExpiresUnixMs
        : fallback;
    const loaded = this.loadStored();
    if (!loaded || this.lock?.id !== lockId) return { ok: false, leaseExpiresUnixMs: reported };
    const { state, storedLease } = loaded;
    const firstCommit = !state.confirmed || state.nodeId === null;
    state.nodeId ??= req.nodeId;
    state.confirmed = true;
    state.lastUsedAt = now;
    // Renewals never shorten a lease, and never carry it past the session's maximum lifetime.
    const endOfLife = state.createdAt + accountLimits(this.env).sessionMaxLifetimeMs;
    state.leaseExpiresUnixMs = Math.min(Math.max(state.leaseExpiresUnixMs, reported), endOfLife);
    this.lock = null;
    let stored = storedLease;
    if (firstCommit || state.leaseExpiresUnixMs > storedLease) {
      stored = Math.min(state.leaseExpiresUnixMs + LEASE_WRITE_AHEAD_MS, endOfLife);
      this.ctx.storage.kv.put(STATE_KEY, { ...state, leaseExpiresUnixMs: stored });
    }
    this.live = { storedLease: stored, leaseExpiresUnixMs: state.leaseExpiresUnixMs, lastUsedAt: state.lastUsedAt };
    await this.schedule(state);
    this.mirrorSoon(state);
    return { ok: true, leaseExpiresUnixMs: state.leaseExpiresUnixMs };
  }

  /** Frees the session after a failure that leaves its container intact. A session never confirmed is dropped. */
  async release(lockId: string): Promise<void> {
    const state = this.load();
    if (!state || this.lock?.id !== lockId) return;
    this.lock = null;
    if (!state.confirmed) await this.forget(state);
  }

  /** Forgets the session (timeout, cancel, worker gone). Nothing is sent to the worker: its janitor reaps the container. */
  async drop(lockId: string): Promise<void> {
    const state = this.load();
    if (!state || this.lock?.id !== lockId) return;
    await this.forget(state);
  }

  /** Fires at lease expiry (or when a lock runs out): drops an idle expired session, else waits again. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const state = this.load();
    if (!state) return;
    if (this.expireIfDue(state, Date.now())) return;
    await this.schedule(state);
  }

  /**
   * Applies what time alone decides: an abandoned lock is cleared (or the never-confirmed
   * session dropped), an idle session past its lease is dropped. Answers true when dropped.
   */
  private expireIfDue(state: SessionState, now: number): boolean {
    if (this.lock && this.lock.until <= now) this.lock = null;
    // Unconfirmed and not locked: its first command was abandoned, or ended with this
    // object's previous instance.
    if (!this.lock && !state.confirmed) {
      this.forgetLater(state);
      return true;
    }
    if (!this.lock && state.leaseExpiresUnixMs <= now) {
      this.forgetLater(state);
      return true;
    }
    return false;
  }

  private load(): SessionState | undefined {
    return this.loadStored()?.state;
  }

  /** The session with its exact lease and last use, and the lease its stored copy holds. */
  private loadStored(): { state: SessionState; storedLease: number } | undefined {
    const state = this.ctx.storage.kv.get<SessionState>(STATE_KEY);
    if (!state) return undefined;
    const storedLease = state.leaseExpiresUnixMs;
    const live = this.live;
    if (live && live.storedLease === storedLease) {
      state.leaseExpiresUnixMs = live.leaseExpiresUnixMs;
      state.lastUsedAt = live.lastUsedAt;
    }
    return { state, storedLease };
  }

  private async save(state: SessionState): Promise<void> {
    this.live = null;
    this.ctx.storage.kv.put(STATE_KEY, state);
    await this.schedule(state);
  }

  /**
   * The alarm wakes at lease expiry, or at the lock's end when a command may outlast the
   * lease. An alarm that comes early only schedules itself again (see `alarm`), so one
   * already set for no later than that is left as it is: most commands then write no
   * alarm at all (a lock ends well before the lease; a renewed lease only moves later).
   * An abandoned lock ending before the lease is cleared by the next call or that alarm.
   */
  private async schedule(state: SessionState): Promise<void> {
    const due = Math.max(this.lock?.until ?? 0, state.leaseExpiresUnixMs);
    if (this.alarmAt !== null && this.alarmAt <= due && this.alarmAt > Date.now()) return;
    await this.ctx.storage.setAlarm(due);
    this.alarmAt = due;
  }

  private async deleteAlarm(): Promise<void> {
    this.alarmAt = null;
    await this.ctx.storage.deleteAlarm();
  }

  private async forget(state: SessionState): Promise<void> {
    this.lock = null;
    this.live = null;
    this.ctx.storage.kv.delete(STATE_KEY);
    await this.deleteAlarm();
    await this.releaseHold(state);
    if (state.confirmed) await this.deleteRowInOrder(state);
  }

  /** Frees the account's session slot; if this fails, the account asks liveUntil later and learns the same. */
  private async releaseHold(state: SessionState): Promise<void> {
    try {
      await accountLimitsStub(this.env, state.accountId).releaseSession(state.sessionId);
    } catch (err) {
      logMirrorFailure("release", state, err);
    }
  }

  /** Deletes the D1 row after any write still queued, so a late upsert cannot bring it back. */
  private deleteRowInOrder(state: SessionState): Promise<void> {
    this.mirroredLease = null;
    this.mirrorChain = this.mirrorChain.then(() => this.deleteRow(state));
    return this.mirrorChain;
  }

  /** Drops synchronously (so the caller's check-and-set stays atomic) and finishes the cleanup in the background. */
  private forgetLater(state: SessionState): void {
    this.lock = null;
    this.live = null;
    this.ctx.storage.kv.delete(STATE_KEY);
    this.ctx.waitUntil(
      (async () => {
        await this.deleteAlarm();
        await this.releaseHold(state);
        if (state.confirmed) await this.deleteRowInOrder(state);
      })(),
    );
  }

  /**
   * Refreshes the D1 row off the response path: writes run one after another (a later
   * state never lands before an earlier one), and a lease that moved by less than
   * MIRROR_MIN_STEP_MS since the last write is not written again (the dashboard's
   * countdown may lag by that much; the Session itself is always exact).
   */
  private mirrorSoon(state: SessionState): void {
    const first = this.mirroredLease === null;
    if (!first && state.leaseExpiresUnixMs - (this.mirroredLease ?? 0) < MIRROR_MIN_STEP_MS) return;
    this.mirroredLease = state.leaseExpiresUnixMs;
    const snapshot = { ...state };
    this.mirrorChain = this.mirrorChain.then(() => this.mirror(snapshot));
    this.ctx.waitUntil(this.mirrorChain);
  }

  /** Inserts or refreshes the D1 row; a failure is logged, never fatal. */
  private async mirror(state: SessionState): Promise<void> {
    if (state.nodeId === null) return;
    try {
      await getDb(this.env)
        .insert(terminalSessions)
        .values({
          id: state.sessionId,
          accountId: state.accountId,
          nodeId: state.nodeId,
          createdAt: state.createdAt,
          lastUsedAt: state.lastUsedAt,
          leaseExpiresAt: state.leaseExpiresUnixMs,
        })
        .onConflictDoUpdate({
          target: [terminalSessions.accountId, terminalSessions.id],
          set: { nodeId: state.nodeId, lastUsedAt: state.lastUsedAt, leaseExpiresAt: state.leaseExpiresUnixMs },
        });
    } catch (err) {
      logMirrorFailure("upsert", state, err);
    }
  }

  private async deleteRow(state: SessionState): Promise<void> {
    try {
      await getDb(this.env)
        .delete(terminalSessions)
        .where(and(eq(terminalSessions.accountId, state.accountId), eq(terminalSessions.id, state.sessionId)));
    } catch (err) {
      logMirrorFailure("delete", state, err);
    }
  }
}

/** Keeps a requested lease inside the contract's bounds. */
export function clampLease(sec: number): number {
  if (!Number.isFinite(sec)) return LEASE_DEFAULT_SEC;
  return Math.min(LEASE_MAX_SEC, Math.max(LEASE_MIN_SEC, Math.floor(sec)));
}

function logMirrorFailure(op: string, state: SessionState, err: unknown): void {
  console.error(
    JSON.stringify({
      level: "warn",
      msg: "terminal_sessions mirror failed",
      op,
      accountId: state.accountId,
      sessionId: state.sessionId,
      error: err instanceof Error ? err.message : String(err),
    }),
  );
}
