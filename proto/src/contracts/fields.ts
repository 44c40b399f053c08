import { z } from "zod/v4";

/*
 * Field builders shared by every capability contract, so one rule has one message on
 * every boundary (REST, MCP, the Task object, the worker). zod v4: it converts to JSON
 * Schema itself and runs without eval (workerd forbids code generation).
 */

/** Largest echo message, Python program or shell command accepted, in characters. */
export const MAX_TEXT_CHARS = 1_000_000;
/** Longest session id a client may name (the console's own ids are far shorter). */
export const SESSION_ID_MAX_LENGTH = 128;
/** Longest file path inside a sandbox. */
export const FILE_PATH_MAX_LENGTH = 4_096;
/** Bounds of a `timeout_ms` of the code-running capabilities (pythonExec, terminal*). */
export const EXEC_TIMEOUT_MS = { min: 1, default: 60_000, max: 600_000 } as const;

const requiredOrType = (type: string) => (iss: { input: unknown }) =>
  iss.input === undefined ? "is required" : `must be ${type}`;

/** A required, non-blank string of at most `max` characters without NUL characters. */
export function text(max = MAX_TEXT_CHARS) {
  return z
    .string({ error: requiredOrType("a string") })
    .max(max, `must be at most ${max} characters`)
    .regex(/\S/, "must not be blank")
    .refine((s) => !s.includes("\0"), "must not contain NUL characters");
}

/** An integer in [min, max], one message for every way to miss. */
export function intBetween(min: number, max: number) {
  const msg = `must be an integer between ${min} and ${max}`;
  return z.int({ error: msg }).min(min, msg).max(max, msg);
}

/** An optional `timeout_ms` up to `max`. */
export function timeoutMs(max: number = EXEC_TIMEOUT_MS.max) {
  return intBetween(1, max).optional();
}

/** A session id: printable ASCII without spaces, at most SESSION_ID_MAX_LENGTH characters. */
export const sessionId = z
  .string({ error: requiredOrType("a string") })
  .min(1, "must not be empty")
  .max(SESSION_ID_MAX_LENGTH, `must be at most ${SESSION_ID_MAX_LENGTH} characters`)
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");

/** A path inside a sandbox (absolute, or relative to its working directory). */
export const filePath = z
  .string({ error: requiredOrType("a string") })
  .min(1, "must not be empty")
  .max(FILE_PATH_MAX_LENGTH, `must be at most ${FILE_PATH_MAX_LENGTH} characters`)
  .refine((s) => !s.includes("\0"), "must not contain NUL characters");

/** A yes/no flag. */
export function flag() {
  return z.boolean({ error: "must be true or false" });
}

/**
 * The first problem of a failed parse as `field: message` (`prefix.field: …` under a
 * prefix such as `input`), so a caller, human or LLM, sees exactly what to fix. The one
 * formatter of validation errors for both sides.
 */
export function describeIssues(err: z.ZodError, prefix = ""): string {
  const issue = err.issues[0];
  if (!issue) return prefix ? `${prefix}: invalid value` : "invalid value";
  const where = [prefix, ...issue.path.map(String)].filter(Boolean).join(".");
  const message = issue.code === "unrecognized_keys" ? `unknown field: ${issue.keys.join(", ")}` : issue.message;
  return where ? `${where}: ${message}` : message;
}

/** A parse that answers the formatted message instead of throwing. */
export type Checked<T> = { ok: true; data: T } | { ok: false; message: string };

/** Parses `value` with `schema`; a mismatch answers `describeIssues` under `prefix`. */
export function check<S extends z.ZodType>(schema: S, value: unknown, prefix = ""): Checked<z.output<S>> {
  const parsed = schema.safeParse(value);
  return parsed.success ? { ok: true, data: parsed.data } : { ok: false, message: describeIssues(parsed.error, prefix) };
}
