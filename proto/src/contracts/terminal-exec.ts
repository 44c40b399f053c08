import { z } from "zod/v4";
import { RUN_END_ERRORS, SESSION_CALL_ERRORS } from "./errors.ts";
import { EXEC_TIMEOUT_MS, flag, intBetween, MAX_TEXT_CHARS, sessionId, text, timeoutMs } from "./fields.ts";

/** Lease of a terminal session a client may ask for, in seconds (the API contract's 60 / 60 / 1800). */
export const TERMINAL_LEASE_SEC = { min: 60, default: 60, max: 1_800 } as const;
/**
 * Bounds any worker's lease configuration lies within (WORKER_TERMINAL_LEASE_*_SEC); the
 * worker's payload is checked against these, then clamped to the worker's own bounds.
 */
export const TERMINAL_LEASE_LIMIT_SEC = { min: 1, max: 7 * 86_400 } as const;

const leaseDescription = `How long the session stays alive after this command, in seconds (${TERMINAL_LEASE_SEC.min}-${TERMINAL_LEASE_SEC.max}, default ${TERMINAL_LEASE_SEC.default}). Only extends, never shortens.`;

const commandField = text(MAX_TEXT_CHARS).describe("Shell command line, run with `sh -lc` in the session's working directory.");
const createIfMissingField = flag()
  .optional()
  .describe("When session_id is unknown or expired, start a fresh session under that id instead of failing.");

/** What a task's `input` holds (the task carries its own timeout). */
export const terminalExecInput = z.strictObject({
  command: commandField,
  session_id: sessionId
    .optional()
    .describe("Session to run in. Omit to start a new session; reuse the returned session_id to keep state."),
  create_if_missing: createIfMissingField,
  lease_ttl_sec: intBetween(TERMINAL_LEASE_SEC.min, TERMINAL_LEASE_SEC.max).optional().describe(leaseDescription),
});

/** The MCP `terminalExec` arguments. */
export const terminalExecArgs = terminalExecInput.extend({
  timeout_ms: timeoutMs(EXEC_TIMEOUT_MS.max).describe(
    `Wall-clock limit in milliseconds (default ${EXEC_TIMEOUT_MS.default}, max ${EXEC_TIMEOUT_MS.max}). When it passes the command is killed AND the session is deleted.`,
  ),
});

/** `POST /api/v1/commands/terminal` body: the MCP arguments plus the contract's `request_id`. */
export const terminalExecRequest = terminalExecArgs.extend({
  request_id: z.string({ error: "must be a string" }).max(128, "must be at most 128 characters").optional(),
});

/**
 * What the console sends the worker: the worker's own key of the session (never the
 * client's id), always present, and a lease within any worker's configurable bounds.
 */
export const terminalExecPayload = z.strictObject({
  session_id: sessionId,
  command: commandField,
  create_if_missing: createIfMissingField,
  lease_ttl_sec: intBetween(TERMINAL_LEASE_LIMIT_SEC.min, TERMINAL_LEASE_LIMIT_SEC.max).optional(),
  timeout_ms: timeoutMs(EXEC_TIMEOUT_MS.max),
});

/** The terminal result: the worker's answer, the REST body, the MCP structured result. */
export const terminalExecResult = z.object({
  session_id: z.string().describe("Pass this back as session_id to keep working in the same container."),
  created: z.boolean().describe("True when this call started a new session."),
  stdout: z.string(),
  stderr: z.string(),
  exit_code: z.int().describe("Exit code of the command; non-zero is a normal result, not a tool failure."),
  stdout_truncated: z.boolean().describe("True when stdout was cut at the output limit."),
  stderr_truncated: z.boolean().describe("True when stderr was cut at the output limit."),
  lease_expires_unix_ms: z.number().describe("When the idle session will be deleted (unix ms)."),
});

/** Codes a terminal command may end with besides the placement ones. */
export const TERMINAL_EXEC_ERRORS = [...SESSION_CALL_ERRORS, ...RUN_END_ERRORS] as const;

export type TerminalExecInput = z.infer<typeof terminalExecInput>;
export type TerminalExecRequest = z.infer<typeof terminalExecRequest>;
export type TerminalExecPayload = z.infer<typeof terminalExecPayload>;
export type TerminalExecResult = z.infer<typeof terminalExecResult>;
