import { TERMINAL_LEASE_SEC } from "@onlyboxes/proto";
import type { Env } from "../env.ts";
import { dispatch, type OutputChunk } from "../lib/dispatch.ts";
import { AppError, type ErrorCode } from "../lib/errors.ts";
import type { BeginResult } from "../objects/session.ts";

/** A lock outlives its command by this much before it counts as abandoned (a lost caller). */
const LOCK_SLACK_MS = 15_000;

/** Errors meaning the session's container no longer exists where it was pinned. */
const SESSION_GONE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["session_not_found", "no_worker", "worker_disconnected"]);

/** The Session object of one account's session id. */
export function sessionStub(env: Env, accountId: string, sessionId: string) {
  return env.SESSION.get(env.SESSION.idFromName(`${accountId}:${sessionId}`));
}

/** An existing session locked for one operation that leaves its lease as it is. */
export interface LockedSession {
  release(): Promise<void>;
  /** Forgets the session: its container is gone. */
  drop(): Promise<void>;
  workerKey: string;
  nodeId: string;
}

/**
 * Locks an existing session for `holdMs` (plus slack) on the node it is pinned to; a
 * missing session, or another account's, is `session_not_found`.
 */
export async function lockExistingSession(
  env: Env,
  accountId: string,
  sessionId: string,
  holdMs: number,
): Promise<LockedSession> {
  const stub = sessionStub(env, accountId, sessionId);
  const lease = await stub.begin({
    accountId,
    sessionId,
    createIfMissing: false,
    leaseTtlSec: TERMINAL_LEASE_SEC.default,
    holdMs: holdMs + LOCK_SLACK_MS,
  });
  if (!lease.ok) throw new AppError(lease.code, lease.message);
  if (lease.nodeId === null) {
    // Only a session whose first command is still running lacks a node, and that one is locked.
    await stub.release(lease.lockId);
    throw new AppError("session_not_found", "session not found");
  }
  return {
    release: () => stub.release(lease.lockId),
    drop: () => stub.drop(lease.lockId),
    workerKey: lease.workerKey,
    nodeId: lease.nodeId,
  };
}

/** Unlocks a session after a failed operation and gives the caller's error: `session_not_found` (and the session forgotten) when its container is gone. */
export async function unlockAfterFailure(locked: LockedSession, e: AppError): Promise<AppError> {
  if (SESSION_GONE.has(e.code)) {
    await locked.drop();
    return new AppError("session_not_found", "session not found", e);
  }
  await locked.release();
  return e;
}

/** Streams the command's output as it comes; aborting cancels it on the worker. */
export interface SessionRunOptions {
  onOutput?: (c: OutputChunk) => void;
  signal?: AbortSignal;
}

/** A result schema: anything with zod's `safeParse`. */
interface ResultSchema<R> {
  safeParse(raw: unknown): { success: true; data: R } | { success: false };
}

/** The payload fields of every session command, filled in by `runSessionCommand`. */
export type SessionPayloadField = "session_id" | "create_if_missing" | "lease_ttl_sec" | "timeout_ms";

/** One command that runs inside an account's session (terminalExec, session-bound pythonExec). */
export interface SessionCommand<R extends { lease_expires_unix_ms?: number | undefined }> {
  accountId: string;
  sessionId: string;
  createIfMissing: boolean;
  leaseTtlSec: number;
  capability: "pythonExec" | "terminalExec";
  /** The capability's own payload fields (all but the SessionPayloadField ones). */
  payload: object;
  /** The worker's own limit for the command (`timeout_ms`). */
  workerTimeoutMs: number;
  /** How long the console waits for the worker's answer. */
  dispatchTimeoutMs: number;
  /** Errors after which the worker has removed the session's container (or will): the session ends. */
  endedBy: ReadonlySet<ErrorCode>;
  result: ResultSchema<R>;
}

/**
 * Runs one command in a session through its Session object: takes the session's lock
 * (creating the session when asked), dispatches to the node the session is pinned to (any
 * node for a new one), then commits the node and lease. When the pinned container is gone
 * the session is dropped and the caller sees `session_not_found`, unless `createIfMissing`
 * asks for a fresh one (then it is recreated once, anywhere).
 */
export async function runSessionCommand<R extends { lease_expires_unix_ms?: number | undefined }>(
  env: Env,
  cmd: SessionCommand<R>,
  opts: SessionRunOptions = {},
): Promise<{ result: R; created: boolean; leaseExpiresUnixMs: number }> {
  const stub = sessionStub(env, cmd.accountId, cmd.sessionId);
  for (let attempt = 0; ; attempt++) {
    // The session's lock is the command's admission: a session runs one command at a
    // time, and the account's open sessions are bounded (CONSOLE_ACCOUNT_MAX_SESSIONS).
    const lease: BeginResult = await stub.begin({
      accountId: cmd.accountId,
      sessionId: cmd.sessionId,
      createIfMissing: cmd.createIfMissing,
      leaseTtlSec: cmd.leaseTtlSec,
      holdMs: cmd.dispatchTimeoutMs + LOCK_SLACK_MS,
    });
    if (!lease.ok) throw new AppError(lease.code, lease.message);

    let placedOn = lease.nodeId;
    let raw: unknown;
    try {
      raw = await dispatch(env, {
        accountId: cmd.accountId,
        capability: cmd.capability,
        payload: {
          ...cmd.payload,
          session_id: lease.workerKey,
          create_if_missing: lease.isNew || cmd.createIfMissing,
          lease_ttl_sec: cmd.leaseTtlSec,
          timeout_ms: cmd.workerTimeoutMs,
        },
        timeoutMs: cmd.dispatchTimeoutMs,
        ...(lease.nodeId !== null ? { nodeId: lease.nodeId } : {}),
        onPlaced: (p) => {
          placedOn = p.nodeId;
        },
        ...(opts.onOutput ? { onOutput: opts.onOutput } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      const e = AppError.from(err);
      if (cmd.endedBy.has(e.code) || lease.isNew) {
        await stub.drop(lease.lockId);
        throw e;
      }
      if (SESSION_GONE.has(e.code)) {
        await stub.drop(lease.lockId);
        if (cmd.createIfMissing && attempt === 0) continue;
        throw new AppError("session_not_found", "session not found", e);
      }
      await stub.release(lease.lockId);
      throw e;
    }

    const parsed = cmd.result.safeParse(raw);
    if (!parsed.success || placedOn === null) {
      await stub.release(lease.lockId);
      throw new AppError("worker_error", `worker returned an invalid ${cmd.capability} result`);
    }
    const leaseExpiresUnixMs = parsed.data.lease_expires_unix_ms;
    const committed = await stub.commit(lease.lockId, {
      nodeId: placedOn,
      leaseTtlSec: cmd.leaseTtlSec,
      ...(leaseExpiresUnixMs !== undefined ? { leaseExpiresUnixMs } : {}),
    });
    return { result: parsed.data, created: lease.isNew, leaseExpiresUnixMs: committed.leaseExpiresUnixMs };
  }
}
