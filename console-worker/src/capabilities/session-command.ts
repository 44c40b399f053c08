import { TERMINAL_LEASE_SEC } from "@onlyboxes/proto";
import type { Env } from "../env.ts";
import type { OutputChunk } from "../lib/dispatch.ts";
import { AppError } from "../lib/errors.ts";
import {
  LOCK_SLACK_MS,
  SESSION_GONE,
  type SessionCapabilityName,
  type SessionResult,
  type SessionRunRequest,
} from "../objects/session.ts";

export type { SessionPayloadField } from "../objects/session.ts";

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

/**
 * Runs one command in an account's session through its Session object, which takes the
 * session's lock (creating the session when asked), dispatches to the node the session is
 * pinned to (any node for a new one) and commits the node and lease, all in one call (see
 * `Session.run`). When the pinned container is gone the session is dropped and the caller
 * sees `session_not_found`, unless `createIfMissing` asks for a fresh one (then it is
 * recreated once, anywhere). Aborting `opts.signal` cancels the command on the worker.
 */
export async function runSessionCommand<C extends SessionCapabilityName>(
  env: Env,
  cmd: SessionRunRequest & { capability: C },
  opts: SessionRunOptions = {},
): Promise<{ result: SessionResult<C>; created: boolean; leaseExpiresUnixMs: number }> {
  if (opts.signal?.aborted) throw new AppError("canceled", "the command was canceled");
  const stub = sessionStub(env, cmd.accountId, cmd.sessionId);
  const runId = crypto.randomUUID();
  const onAbort = () => {
    stub.cancel(runId).catch(() => {});
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const outcome = await stub.run(runId, cmd, opts.onOutput);
    if (!outcome.ok) throw new AppError(outcome.code, outcome.message);
    return {
      result: outcome.result as SessionResult<C>,
      created: outcome.created,
      leaseExpiresUnixMs: outcome.leaseExpiresUnixMs,
    };
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
}
