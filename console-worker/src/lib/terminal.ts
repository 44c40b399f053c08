import { z } from "zod";
import type { Env } from "../env.ts";
import { type BeginResult, LEASE_DEFAULT_SEC, LEASE_MAX_SEC, LEASE_MIN_SEC } from "../objects/session.ts";
import { newId } from "./crypto.ts";
import { dispatch, type OutputChunk } from "./dispatch.ts";
import { AppError, type ErrorCode } from "./errors.ts";

/** Input of a terminal command (REST body, MCP `terminalExec` arguments). */
export interface TerminalInput {
  command: string;
  session_id?: string;
  create_if_missing?: boolean;
  lease_ttl_sec?: number;
  timeout_ms?: number;
  request_id?: string;
}

/** What a terminal command answers (the established contract's field names). */
export interface TerminalResult {
  session_id: string;
  created: boolean;
  stdout: string;
  stderr: string;
  exit_code: number;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  lease_expires_unix_ms: number;
}

export interface TerminalResourceInput {
  session_id: string;
  file_path: string;
  action: "validate" | "read";
  timeout_ms?: number;
}

export interface TerminalResourceResult {
  session_id: string;
  file_path: string;
  mime_type: string;
  size_bytes: number;
  blob?: string;
}

export const TERMINAL_TIMEOUT_DEFAULT_MS = 60_000;
export const TERMINAL_TIMEOUT_MAX_MS = 600_000;
export const SESSION_ID_MAX_LENGTH = 128;

/**
 * The worker enforces `timeout_ms` itself and answers with the container already gone;
 * the console waits this much longer so that answer, not the console's own deadline, is
 * what normally ends a command. A worker that never answers is still cut off.
 */
const WORKER_DEADLINE_GRACE_MS = 2_000;
/** A lock outlives its command by this much before it counts as abandoned (a lost caller). */
const LOCK_SLACK_MS = 15_000;

/** A session id: blank counts as absent (a new session), anything else must be printable without spaces. */
const sessionIdField = z.preprocess(
  (v) => (typeof v === "string" && v.trim() === "" ? undefined : typeof v === "string" ? v.trim() : v),
  z
    .string()
    .max(SESSION_ID_MAX_LENGTH, `must be at most ${SESSION_ID_MAX_LENGTH} characters`)
    .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces")
    .optional(),
);

/** Validates a terminal command's input; unknown fields are refused. */
export const terminalInputSchema = z
  .object({
    command: z
      .string({ required_error: "is required" })
      .refine((s) => s.trim() !== "", "must not be blank")
      .refine((s) => !s.includes("\0"), "must not contain NUL characters"),
    session_id: sessionIdField,
    create_if_missing: z.boolean().optional(),
    lease_ttl_sec: z
      .number()
      .int("must be an integer")
      .min(LEASE_MIN_SEC, `must be between ${LEASE_MIN_SEC} and ${LEASE_MAX_SEC}`)
      .max(LEASE_MAX_SEC, `must be between ${LEASE_MIN_SEC} and ${LEASE_MAX_SEC}`)
      .optional(),
    timeout_ms: z
      .number()
      .int("must be an integer")
      .min(1, `must be between 1 and ${TERMINAL_TIMEOUT_MAX_MS}`)
      .max(TERMINAL_TIMEOUT_MAX_MS, `must be between 1 and ${TERMINAL_TIMEOUT_MAX_MS}`)
      .optional(),
    request_id: z.string().max(128, "must be at most 128 characters").optional(),
  })
  .strict();

/** Validates a resource request (MCP `readImage`, task `terminalResource`); unknown fields are refused. */
export const terminalResourceInputSchema = z
  .object({
    session_id: z.string({ required_error: "is required" }).trim().min(1, "must not be blank").max(SESSION_ID_MAX_LENGTH),
    file_path: z
      .string({ required_error: "is required" })
      .refine((s) => s.trim() !== "", "must not be blank")
      .refine((s) => !s.includes("\0"), "must not contain NUL characters"),
    action: z.enum(["validate", "read"]).default("read"),
    timeout_ms: z
      .number()
      .int("must be an integer")
      .min(1, `must be between 1 and ${TERMINAL_TIMEOUT_MAX_MS}`)
      .max(TERMINAL_TIMEOUT_MAX_MS, `must be between 1 and ${TERMINAL_TIMEOUT_MAX_MS}`)
      .optional(),
  })
  .strict();

const execResultSchema = z.object({
  created: z.boolean().optional(),
  stdout: z.string(),
  stderr: z.string(),
  exit_code: z.number().int(),
  stdout_truncated: z.boolean().optional(),
  stderr_truncated: z.boolean().optional(),
  lease_expires_unix_ms: z.number().optional(),
});

const resourceResultSchema = z.object({
  mime_type: z.string(),
  size_bytes: z.number(),
  blob: z.string().optional(),
});

/** Errors meaning the session's container no longer exists where it was pinned. */
const SESSION_GONE = new Set<ErrorCode>(["session_not_found", "no_worker", "worker_disconnected"]);
/** Errors after which the worker has removed the container (or will): the session ends. */
const SESSION_ENDED = new Set<ErrorCode>(["deadline_exceeded", "canceled"]);

function sessionStub(env: Env, accountId: string, sessionId: string) {
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
  input: TerminalInput,
  opts: { onOutput?: (c: OutputChunk) => void; signal?: AbortSignal } = {},
): Promise<TerminalResult> {
  const timeoutMs = input.timeout_ms ?? TERMINAL_TIMEOUT_DEFAULT_MS;
  const leaseTtlSec = input.lease_ttl_sec ?? LEASE_DEFAULT_SEC;
  const sessionId = input.session_id ?? newId("sess");
  const createIfMissing = input.session_id === undefined || input.create_if_missing === true;
  const stub = sessionStub(env, accountId, sessionId);
  const dispatchTimeoutMs = timeoutMs + WORKER_DEADLINE_GRACE_MS;

  for (let attempt = 0; ; attempt++) {
    const lease = await stub.begin({
      accountId,
      sessionId,
      createIfMissing,
      leaseTtlSec,
      holdMs: dispatchTimeoutMs + LOCK_SLACK_MS,
    });
    if (!lease.ok) throw beginFailure(lease);

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
        },
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

    const parsed = execResultSchema.safeParse(raw);
    if (!parsed.success || placedOn === null) {
      await stub.release(lease.lockId);
      throw new AppError("worker_error", "worker returned an invalid terminalExec result");
    }
    const r = parsed.data;
    const committed = await stub.commit(lease.lockId, {
      nodeId: placedOn,
      leaseTtlSec,
      ...(r.lease_expires_unix_ms !== undefined ? { leaseExpiresUnixMs: r.lease_expires_unix_ms } : {}),
    });
    return {
      session_id: sessionId,
      created: r.created ?? lease.isNew,
      stdout: r.stdout,
      stderr: r.stderr,
      exit_code: r.exit_code,
      stdout_truncated: r.stdout_truncated ?? false,
      stderr_truncated: r.stderr_truncated ?? false,
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
  input: TerminalResourceInput,
): Promise<TerminalResourceResult> {
  const timeoutMs = input.timeout_ms ?? TERMINAL_TIMEOUT_DEFAULT_MS;
  const stub = sessionStub(env, accountId, input.session_id);
  const lease = await stub.begin({
    accountId,
    sessionId: input.session_id,
    createIfMissing: false,
    leaseTtlSec: LEASE_DEFAULT_SEC,
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
      payload: { session_id: lease.workerKey, file_path: input.file_path, action: input.action },
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

  const parsed = resourceResultSchema.safeParse(raw);
  if (!parsed.success) throw new AppError("worker_error", "worker returned an invalid terminalResource result");
  return {
    session_id: input.session_id,
    file_path: input.file_path,
    mime_type: parsed.data.mime_type,
    size_bytes: parsed.data.size_bytes,
    ...(parsed.data.blob !== undefined ? { blob: parsed.data.blob } : {}),
  };
}
