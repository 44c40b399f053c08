import {
  EXEC_TIMEOUT_MS,
  type PythonExecInput,
  type PythonExecPayload,
  type PythonExecResult,
  pythonExecResult,
  TERMINAL_LEASE_SEC,
} from "@onlyboxes/proto";
import type { Env } from "../env.ts";
import { dispatch, type OutputChunk } from "../lib/dispatch.ts";
import { AppError, type ErrorCode } from "../lib/errors.ts";

/** A session-bound pythonExec as the console runs it. */
export type PythonSessionCall = PythonExecInput & { session_id: string; timeout_ms?: number | undefined };

/**
 * The worker interrupts a cell at `timeout_ms` and answers; the kernel may take its own
 * grace (2 s) to kill a cell that ignores the interrupt. The console waits this much
 * longer before it gives up on the worker.
 */
const WORKER_ANSWER_GRACE_MS = 5_000;
/** How long before timeout_ms the cell is interrupted (at most a quarter of the timeout). */
const INTERRUPT_ANSWER_MARGIN_MS = 1_000;
/** A lock outlives its cell by this much before it counts as abandoned (a lost caller). */
const LOCK_SLACK_MS = 15_000;

/** Errors meaning the session's container no longer exists where it was pinned. */
const SESSION_GONE = new Set<ErrorCode>(["session_not_found", "no_worker", "worker_disconnected"]);
/** Errors after which the worker removed the session's container (or will). */
const SESSION_ENDED = new Set<ErrorCode>(["worker_error", "sandbox_protocol_error", "worker_shutdown"]);

/**
 * Runs a pythonExec cell in the persistent interpreter of an account's session, through
 * the same Session object as terminalExec (lock, pinned node, worker-side key, lease), so
 * a terminal command and a cell never run at once in one session (session_busy). A new
 * session counts against the account's session limit. A timed-out cell is a normal
 * result; a cancel keeps the session (the worker ends only its interpreter).
 */
export async function runPythonSession(
  env: Env,
  accountId: string,
  input: PythonSessionCall,
  opts: { onOutput?: (c: OutputChunk) => void; signal?: AbortSignal } = {},
): Promise<PythonExecResult> {
  const timeoutMs = input.timeout_ms ?? EXEC_TIMEOUT_MS.default;
  const leaseTtlSec = TERMINAL_LEASE_SEC.default;
  const sessionId = input.session_id;
  const createIfMissing = input.create_if_missing === true;
  const stub = env.SESSION.get(env.SESSION.idFromName(`${accountId}:${sessionId}`));
  const dispatchTimeoutMs = timeoutMs + WORKER_ANSWER_GRACE_MS;
  // The cell is interrupted a little before the call's own limit, so that its answer (with
  // the state kept) arrives within timeout_ms, even where the caller enforces it itself (a task).
  const cellBudgetMs = Math.max(1, timeoutMs - Math.min(INTERRUPT_ANSWER_MARGIN_MS, Math.floor(timeoutMs / 4)));

  for (let attempt = 0; ; attempt++) {
    const lease = await stub.begin({
      accountId,
      sessionId,
      createIfMissing,
      leaseTtlSec,
      holdMs: dispatchTimeoutMs + LOCK_SLACK_MS,
    });
    if (!lease.ok) throw new AppError(lease.code, lease.message);

    let placedOn = lease.nodeId;
    let raw: unknown;
    try {
      raw = await dispatch(env, {
        accountId,
        capability: "pythonExec",
        payload: {
          code: input.code,
          ...(input.files !== undefined ? { files: input.files } : {}),
          session_id: lease.workerKey,
          create_if_missing: lease.isNew || createIfMissing,
          ...(input.reset === true ? { reset: true } : {}),
          lease_ttl_sec: leaseTtlSec,
          timeout_ms: cellBudgetMs,
        } satisfies PythonExecPayload,
        timeoutMs: dispatchTimeoutMs,
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

    const parsed = pythonExecResult.safeParse(raw);
    if (!parsed.success || placedOn === null) {
      await stub.release(lease.lockId);
      throw new AppError("worker_error", "worker returned an invalid pythonExec result");
    }
    const committed = await stub.commit(lease.lockId, {
      nodeId: placedOn,
      leaseTtlSec,
      ...(parsed.data.lease_expires_unix_ms !== undefined ? { leaseExpiresUnixMs: parsed.data.lease_expires_unix_ms } : {}),
    });
    return {
      ...parsed.data,
      session_id: sessionId,
      created: lease.isNew,
      lease_expires_unix_ms: committed.leaseExpiresUnixMs,
    };
  }
}
