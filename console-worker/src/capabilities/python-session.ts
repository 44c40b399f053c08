import {
  EXEC_TIMEOUT_MS,
  type PythonExecInput,
  type PythonExecPayload,
  type PythonExecResult,
  TERMINAL_LEASE_SEC,
} from "@onlyboxes/proto";
import type { Env } from "../env.ts";
import type { ErrorCode } from "../lib/errors.ts";
import { runSessionCommand, type SessionPayloadField, type SessionRunOptions } from "./session-command.ts";

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
/** Errors after which the worker removed the session's container (or will). */
const SESSION_ENDED: ErrorCode[] = ["worker_error", "sandbox_protocol_error", "worker_shutdown"];

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
  opts: SessionRunOptions = {},
): Promise<PythonExecResult> {
  const timeoutMs = input.timeout_ms ?? EXEC_TIMEOUT_MS.default;
  // The cell is interrupted a little before the call's own limit, so that its answer (with
  // the state kept) arrives within timeout_ms, even where the caller enforces it itself (a task).
  const cellBudgetMs = Math.max(1, timeoutMs - Math.min(INTERRUPT_ANSWER_MARGIN_MS, Math.floor(timeoutMs / 4)));

  const run = await runSessionCommand(
    env,
    {
      accountId,
      sessionId: input.session_id,
      createIfMissing: input.create_if_missing === true,
      leaseTtlSec: TERMINAL_LEASE_SEC.default,
      capability: "pythonExec",
      payload: {
        code: input.code,
        ...(input.files !== undefined ? { files: input.files } : {}),
        ...(input.reset === true ? { reset: true } : {}),
      } satisfies Omit<PythonExecPayload, SessionPayloadField>,
      workerTimeoutMs: cellBudgetMs,
      dispatchTimeoutMs: timeoutMs + WORKER_ANSWER_GRACE_MS,
      endedBy: SESSION_ENDED,
    },
    opts,
  );
  return { ...run.result, session_id: input.session_id, created: run.created, lease_expires_unix_ms: run.leaseExpiresUnixMs };
}
