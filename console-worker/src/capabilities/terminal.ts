import {
  EXEC_TIMEOUT_MS,
  TERMINAL_LEASE_SEC,
  type TerminalExecInput,
  type TerminalExecPayload,
  type TerminalExecResult,
  type TerminalResourcePayload,
  type TerminalResourceResult,
  terminalResourceResult,
} from "@onlyboxes/proto";
import type { Env } from "../env.ts";
import { newId } from "../lib/crypto.ts";
import { dispatch } from "../lib/dispatch.ts";
import { AppError, type ErrorCode } from "../lib/errors.ts";
import {
  lockExistingSession,
  runSessionCommand,
  type SessionPayloadField,
  type SessionRunOptions,
  unlockAfterFailure,
} from "./session-command.ts";

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
/** Errors after which the worker has removed the container (or will): the session ends. */
const SESSION_ENDED: ErrorCode[] = ["deadline_exceeded", "canceled", "worker_shutdown"];

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
  opts: SessionRunOptions = {},
): Promise<TerminalExecResult> {
  const timeoutMs = input.timeout_ms ?? EXEC_TIMEOUT_MS.default;
  const leaseTtlSec = input.lease_ttl_sec ?? TERMINAL_LEASE_SEC.default;
  const sessionId = input.session_id ?? newId("sess");
  const createIfMissing = input.session_id === undefined || input.create_if_missing === true;
  const run = await runSessionCommand(
    env,
    {
      accountId,
      sessionId,
      createIfMissing,
      leaseTtlSec,
      capability: "terminalExec",
      payload: { command: input.command } satisfies Omit<TerminalExecPayload, SessionPayloadField>,
      workerTimeoutMs: timeoutMs,
      dispatchTimeoutMs: timeoutMs + WORKER_DEADLINE_GRACE_MS,
      endedBy: SESSION_ENDED,
    },
    opts,
  );
  const r = run.result;
  return {
    session_id: sessionId,
    created: r.created,
    stdout: r.stdout,
    stderr: r.stderr,
    exit_code: r.exit_code,
    stdout_truncated: r.stdout_truncated,
    stderr_truncated: r.stderr_truncated,
    lease_expires_unix_ms: run.leaseExpiresUnixMs,
  };
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
  const locked = await lockExistingSession(env, accountId, input.session_id, timeoutMs);
  let raw: unknown;
  try {
    raw = await dispatch(env, {
      accountId,
      capability: "terminalResource",
      payload: {
        session_id: locked.workerKey,
        file_path: input.file_path,
        action: input.action,
      } satisfies TerminalResourcePayload,
      timeoutMs,
      nodeId: locked.nodeId,
    });
  } catch (err) {
    throw await unlockAfterFailure(locked, AppError.from(err));
  }
  await locked.release();

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
