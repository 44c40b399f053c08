import {
  DEFAULT_FILE_MAX_BYTES,
  EXEC_TIMEOUT_MS,
  FILE_MAX_BYTES_LIMIT,
  type FileListResult,
  type FileWriteResult,
  fileListResult,
  fileWriteResult,
  SESSION_FILES_CAPABILITY,
  type SessionFilesPayload,
  type SessionView,
  TERMINAL_LEASE_SEC,
} from "@onlyboxes/proto";
import type { Env } from "../env.ts";
import { newId } from "../lib/crypto.ts";
import { dispatch, outcomeError } from "../lib/dispatch.ts";
import { AppError } from "../lib/errors.ts";
import { intVar } from "../lib/limits.ts";
import { accountLimitsStub } from "../objects/account-limits.ts";
import type { SessionSnapshot } from "../objects/session.ts";
import { type DispatchOutcome, workerNodeStub } from "../objects/worker-node.ts";
import { type LockedSession, lockExistingSession, sessionStub, unlockAfterFailure } from "./session-command.ts";
import { runTerminal } from "./terminal.ts";

/**
 * How long one file operation may take on the worker. Generous: a 64 MiB upload from a
 * slow client still fits; a stalled one is cut off.
 */
const FILE_OP_TIMEOUT_MS = EXEC_TIMEOUT_MS.max;

const cache = new WeakMap<Env, number>();

/** The largest file moved in or out of a session (CONSOLE_FILE_MAX_BYTES, default 64 MiB). */
export function fileMaxBytes(env: Env): number {
  const cached = cache.get(env);
  if (cached !== undefined) return cached;
  // Trimmed so a refusal quotes the value without its padding.
  const n = intVar(
    "CONSOLE_FILE_MAX_BYTES",
    env.CONSOLE_FILE_MAX_BYTES?.trim(),
    DEFAULT_FILE_MAX_BYTES,
    FILE_MAX_BYTES_LIMIT.min,
    FILE_MAX_BYTES_LIMIT.max,
  );
  cache.set(env, n);
  return n;
}

/** Refuses a file of `size` bytes above `max` before any of it is read (REST and Connect uploads alike). */
export function refuseAbove(size: number, max: number): void {
  if (size > max) throw new AppError("file_too_large", `the file is larger than the limit of ${max} bytes`);
}

function toView(s: SessionSnapshot): SessionView {
  return {
    session_id: s.sessionId,
    created_at: new Date(s.createdAt).toISOString(),
    last_used_at: new Date(s.lastUsedAt).toISOString(),
    lease_expires_unix_ms: s.leaseExpiresUnixMs,
    busy: s.busy,
  };
}

/** Starts a session now: its container is created on a worker (as terminalExec does implicitly) and pinned there. */
export async function createSession(
  env: Env,
  accountId: string,
  leaseTtlSec: number = TERMINAL_LEASE_SEC.default,
): Promise<{ session_id: string; lease_expires_unix_ms: number; created_at: string }> {
  const r = await runTerminal(env, accountId, { command: "true", lease_ttl_sec: leaseTtlSec });
  const view = await sessionStub(env, accountId, r.session_id).view(accountId);
  return {
    session_id: r.session_id,
    lease_expires_unix_ms: r.lease_expires_unix_ms,
    created_at: new Date(view?.createdAt ?? Date.now()).toISOString(),
  };
}

/** One session of the account; another account's id is `session_not_found`, like a missing one. */
export async function getSession(env: Env, accountId: string, sessionId: string): Promise<SessionView> {
  const view = await sessionStub(env, accountId, sessionId).view(accountId);
  if (!view) throw new AppError("session_not_found", "session not found");
  return toView(view);
}

/** The account's live sessions, newest first (the account's own record of them, not the D1 mirror, so a new one shows at once). */
export async function listSessions(env: Env, accountId: string): Promise<SessionView[]> {
  const ids = await accountLimitsStub(env, accountId).sessionIds();
  const views: SessionSnapshot[] = [];
  await Promise.all(
    ids.map(async (id) => {
      const v = await sessionStub(env, accountId, id).view(accountId);
      if (v) views.push({ ...v });
    }),
  );
  return views.sort((a, b) => b.createdAt - a.createdAt).map(toView);
}

/**
 * Ends a session at once, busy or not, and has its worker remove the container. A worker
 * that cannot be reached is not an error: the sandbox ends itself when its lease runs out.
 */
export async function endSession(env: Env, accountId: string, sessionId: string): Promise<void> {
  const ended = await sessionStub(env, accountId, sessionId).end(accountId);
  if (!ended) throw new AppError("session_not_found", "session not found");
  if (ended.nodeId === null) return;
  try {
    await dispatch(env, {
      accountId,
      capability: SESSION_FILES_CAPABILITY,
      payload: { op: "end_session", session_id: ended.workerKey } satisfies SessionFilesPayload,
      timeoutMs: 30_000,
      nodeId: ended.nodeId,
    });
  } catch (err) {
    console.error(
      JSON.stringify({
        level: "warn",
        msg: "ending a session's container failed; its own lease ends it",
        sessionId,
        code: AppError.from(err).code,
      }),
    );
  }
}

/** Turns a failed outcome into the caller's error, forgetting a session whose container is gone. */
async function failure(locked: LockedSession, outcome: DispatchOutcome & { ok: false }): Promise<AppError> {
  if (outcome.notDelivered && outcome.code === "no_capacity") {
    await locked.release();
    return new AppError("no_capacity", "the worker holding this session is at capacity; retry shortly");
  }
  return unlockAfterFailure(locked, outcome.notDelivered ? new AppError("no_worker", outcome.message) : outcomeError(outcome));
}

/** The command frame of one streamed file operation (`write` or `read`) on a locked session. */
function fileCommand(locked: LockedSession, op: "write" | "read", path: string, maxBytes: number) {
  return {
    commandId: newId("cmd"),
    capability: SESSION_FILES_CAPABILITY,
    payloadJson: JSON.stringify({ op, session_id: locked.workerKey, path, max_bytes: maxBytes } satisfies SessionFilesPayload),
    deadlineUnixMs: Date.now() + FILE_OP_TIMEOUT_MS,
    streamOutput: false,
  };
}

/**
 * Writes `body` to `path` in the session's container, streamed to the worker piece by
 * piece. The file appears only once every byte arrived (the worker renames a temporary
 * file into place); more than the limit is `file_too_large` with nothing left behind.
 */
export async function uploadFile(
  env: Env,
  accountId: string,
  sessionId: string,
  path: string,
  body: ReadableStream<Uint8Array>,
): Promise<FileWriteResult> {
  const maxBytes = fileMaxBytes(env);
  let locked: LockedSession;
  try {
    locked = await lockExistingSession(env, accountId, sessionId, FILE_OP_TIMEOUT_MS);
  } catch (err) {
    await body.cancel().catch(() => {});
    throw err;
  }
  const outcome = await workerNodeStub(env, locked.nodeId).upload(fileCommand(locked, "write", path, maxBytes), body, maxBytes);
  if (!outcome.ok) throw await failure(locked, outcome);
  await locked.release();
  const parsed = fileWriteResult.safeParse(JSON.parse(outcome.payloadJson));
  if (!parsed.success) throw new AppError("worker_error", "worker returned an invalid write result");
  return { path, size: parsed.data.size };
}

/**
 * Reads `path` from the session's container: answers once the worker announced the file,
 * with its bytes as a stream. The session stays locked until the stream ends (`done`).
 */
export async function downloadFile(
  env: Env,
  accountId: string,
  sessionId: string,
  path: string,
  maxBytes: number = fileMaxBytes(env),
): Promise<{ size: number; mimeType: string; body: ReadableStream<Uint8Array>; done: Promise<void> }> {
  const locked = await lockExistingSession(env, accountId, sessionId, FILE_OP_TIMEOUT_MS);
  const started = await workerNodeStub(env, locked.nodeId).download(fileCommand(locked, "read", path, maxBytes));
  if (!started.ok) throw await failure(locked, started);
  // Pass the bytes through a pipe we own, so the session's lock is freed when they end.
  const pipe = new IdentityTransformStream();
  const done = started.body
    .pipeTo(pipe.writable)
    .catch(() => {})
    .finally(() => locked.release());
  return { size: started.size, mimeType: started.mimeType, body: pipe.readable, done };
}

async function simpleOp<T>(
  env: Env,
  accountId: string,
  sessionId: string,
  op: "delete" | "list",
  path: string,
  read: (raw: unknown) => T,
): Promise<T> {
  const locked = await lockExistingSession(env, accountId, sessionId, FILE_OP_TIMEOUT_MS);
  let raw: unknown;
  try {
    raw = await dispatch(env, {
      accountId,
      capability: SESSION_FILES_CAPABILITY,
      payload: { op, session_id: locked.workerKey, path } satisfies SessionFilesPayload,
      timeoutMs: 60_000,
      nodeId: locked.nodeId,
    });
  } catch (err) {
    // dispatch's errors are already the caller's (an account limit stays a 429).
    throw await unlockAfterFailure(locked, AppError.from(err));
  }
  await locked.release();
  return read(raw);
}

/** Deletes a file (or symlink) in the session's container; a directory is `path_is_directory`. */
export async function deleteFile(env: Env, accountId: string, sessionId: string, path: string): Promise<void> {
  await simpleOp(env, accountId, sessionId, "delete", path, () => undefined);
}

/** Lists a directory in the session's container. */
export async function listFiles(env: Env, accountId: string, sessionId: string, path: string): Promise<FileListResult> {
  return simpleOp(env, accountId, sessionId, "list", path, (raw) => {
    const parsed = fileListResult.safeParse(raw);
    if (!parsed.success) throw new AppError("worker_error", "worker returned an invalid listing");
    return { path, entries: parsed.data.entries };
  });
}

/** A fresh session id for a writeFile without one (same form as terminalExec's). */
export function newSessionId(): string {
  return newId("sess");
}
