import {
  EXEC_TIMEOUT_MS,
  TERMINAL_LEASE_SEC,
  type TerminalExecInput,
  type TerminalExecPayload,
  type TerminalExecResult,
  type TerminalResourcePayload,
  type TerminalResourceResult,
  terminalExecResult,
  terminalResourceResult,
} from "@onlyboxes/proto";
import type { Env } from "../env.ts";
import { newId } from "../lib/crypto.ts";
import { admitRun, dispatch, type OutputChunk, releaseWhenAdmitted } from "../lib/dispatch.ts";
import { AppError, type ErrorCode } from "../lib/errors.ts";
import type { BeginResult } from "../objects/session.ts";

/** A terminal command as the console runs it: the capability's input plus its timeout. */
export type TerminalCall = TerminalExecInput & { timeout_ms?: number | undefined };

/** A resource request as the console runs it. */
export interface TerminalResourceCall {
  session_id: string;
  file_path: string;
  action: "validate" | "read";
  timeout_ms?: number;
}

/**
 * The worker enforces `timeout_ms` itself and answers with the container already gone;
 * the console waits this much longer so that answer, not the console's own deadline, is
 * what normally ends a command. A worker that never answers is still cut off.
 */
const WORKER_DEADLINE_GRACE_MS = 2_000;
/** A lock outlives its command by this much before it counts as abandoned (a lost caller). */
const LOCK_SLACK_MS = 15_000;

/** Errors meaning the session's container no longer exists where it was pinned. */
const SESSION_GONE = new Set<ErrorCode>(["session_not_found", "no_worker", "worker_disconnected"]);
/** Errors after which the worker has removed the container (or will): the session ends. */
const SESSION_ENDED = new Set<ErrorCode>(["deadline_exceeded", "canceled", "worker_shutdown"]);

/** The Session object of one account's session id. */
export function sessionStub(env: Env, accountId: string, sessionId: string) {
  return env.SESSION.get(env.SESSION.idFromName(`${accountId}:${sessionId}`));
}

function beginFailure(res: Exclude<BeginResult, { ok: true }>): AppError {
  return new AppError(res.code, res.message);
}

/**
 * Runs one command in an account's terminal session. No `session_id` → a new session on
 * any node with `terminalExec`; an existing one runs on the node it is pinned to. When the
 * pinned container is gone the session is dropped and the caller sees `session_not_found`,
 * unless `create_if_missing` asks for a fresh one (then it is recreated once, anywhere).
 */
export async function runTerminal(
  env: Env,
  accountId: string,
  input: TerminalCall,
  opts: { onOutput?: (c: OutputChunk) => void; signal?: AbortSignal } = {},
): Promise<TerminalExecResult> {
  const timeoutMs = input.timeout_ms ?? EXEC_TIMEOUT_MS.default;
  const leaseTtlSec = input.lease_ttl_sec ?? TERMINAL_LEASE_SEC.default;
  const sessionId = input.session_id ?? newId("sess");
  const createIfMissing = input.session_id === undefined || input.create_if_missing === true;
  const stub = sessionStub(env, accountId, sessionId);
  const dispatchTimeoutMs = timeoutMs + WORKER_DEADLINE_GRACE_MS;

  for (let attempt = 0; ; attempt++) {
    // The session's lock and the account's run admission are asked for together: two
    // objects, one round trip of waiting. Whichever fails, the other is given back.
    const admission = admitRun(env, accountId, Date.now() + dispatchTimeoutMs);
    // Its refusal is reported by dispatch, which awaits it once the lock is held.
    admission.catch(() => {});
    let lease: BeginResult;
    try {
      lease = await stub.begin({
        accountId,
        sessionId,
        createIfMissing,
        leaseTtlSec,
        holdMs: dispatchTimeoutMs + LOCK_SLACK_MS,
      });
    } catch (err) {
      releaseWhenAdmitted(admission);
      throw err;
    }
    if (!lease.ok) {
      releaseWhenAdmitted(admission);
      throw beginFailure(lease);
    }

    let placedOn = lease.nodeId;
    let raw: unknown;
    try {
      raw = await dispatch(env, {
        accountId,
        capability: "terminalExec",
        payload: {
          session_id: lease.workerKey,
          command: input.command,
          create_if_missing: lease.isNew || createIfMissing,
          lease_ttl_sec: leaseTtlSec,
          timeout_ms: timeoutMs,
        } satisfies TerminalExecPayload,
        timeoutMs: dispatchTimeoutMs,
        admission,
        ...(lease.nodeId !== null ? { nodeId: lease.nodeId } : {}),
        onPlaced: (p) => {
          placedOn = p.nodeId;
        },
        ...(opts.onOutput ? { onOutput: opts.onOutput } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      const e = AppError.from(err);
      if (SESSION_ENDED.has(e.code) || lease.isNew) {
        await stub.drop(lease.lockId);
        throw e;
      }
      if (SESSION_GONE.has(e.code)) {
        await stub.drop(lease.lockId);
        if (createIfMissing && attempt === 0) continue;
        throw new AppError("session_not_found", "session not found", e);
      }
      await stub.release(lease.lockId);
      throw e;
    }

    const parsed = terminalExecResult.safeParse(raw);
    if (!parsed.success || placedOn === null) {
      await stub.release(lease.lockId);
      throw new AppError("worker_error", "worker returned an invalid terminalExec result");
    }
    const r = parsed.data;
    const committed = await stub.commit(lease.lockId, {
      nodeId: placedOn,
      leaseTtlSec,
      leaseExpiresUnixMs: r.lease_expires_unix_ms,
    });
    return {
      session_id: sessionId,
      created: r.created,
      stdout: r.stdout,
      stderr: r.stderr,
      exit_code: r.exit_code,
      stdout_truncated: r.stdout_truncated,
      stderr_truncated: r.stderr_truncated,
      lease_expires_unix_ms: committed.leaseExpiresUnixMs,
    };
  }
}

/**
 * Checks (`validate`) or reads (`read`, base64 `blob`) a file inside an account's session
 * container, on the node the session is pinned to. The session is held busy meanwhile;
 * the lease is left as it is.
 */
export async function readTerminalResource(
  env: Env,
  accountId: string,
  input: TerminalResourceCall,
): Promise<TerminalResourceResult> {
  const timeoutMs = input.timeout_ms ?? EXEC_TIMEOUT_MS.default;
  const stub = sessionStub(env, accountId, input.session_id);
  const lease = await stub.begin({
    accountId,
    sessionId: input.session_id,
    createIfMissing: false,
    leaseTtlSec: TERMINAL_LEASE_SEC.default,
    holdMs: timeoutMs + LOCK_SLACK_MS,
  });
  if (!lease.ok) throw beginFailure(lease);
  if (lease.nodeId === null) {
    // Only a session whose first command is still running lacks a node, and that one is locked.
    await stub.release(lease.lockId);
    throw new AppError("session_not_found", "session not found");
  }

  let raw: unknown;
  try {
    raw = await dispatch(env, {
      accountId,
      capability: "terminalResource",
      payload: {
        session_id: lease.workerKey,
        file_path: input.file_path,
        action: input.action,
      } satisfies TerminalResourcePayload,
      timeoutMs,
      nodeId: lease.nodeId,
    });
  } catch (err) {
    const e = AppError.from(err);
    if (SESSION_GONE.has(e.code)) {
      await stub.drop(lease.lockId);
      throw new AppError("session_not_found", "session not found", e);
    }
    await stub.release(lease.lockId);
    throw e;
  }
  await stub.release(lease.lockId);

  const parsed = terminalResourceResult.safeParse(raw);
  if (!parsed.success) throw new AppError("worker_error", "worker returned an invalid terminalResource result");
  return {
    session_id: input.session_id,
    file_path: input.file_path,
    mime_type: parsed.data.mime_type,
    size_bytes: parsed.data.size_bytes,
    ...(parsed.data.blob !== undefined ? { blob: parsed.data.blob } : {}),
  };
}
