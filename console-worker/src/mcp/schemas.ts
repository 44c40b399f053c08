import { z } from "zod/v4";
import { LEASE_MAX_SEC, LEASE_MIN_SEC } from "../objects/session.ts";

/*
 * One zod schema per capability payload and per MCP tool. The same object validates the
 * arguments and (through z.toJSONSchema) is the schema advertised to MCP clients, so what a
 * client is told and what the console enforces cannot drift apart. zod v4 is used because it
 * converts to JSON Schema itself and runs without eval (workerd forbids code generation).
 */

export const ECHO_TIMEOUT_DEFAULT_MS = 5_000;
export const ECHO_TIMEOUT_MAX_MS = 60_000;
export const EXEC_TIMEOUT_DEFAULT_MS = 60_000;
export const EXEC_TIMEOUT_MAX_MS = 600_000;
/** Largest echo message or Python program accepted, in characters. */
export const MAX_TEXT_CHARS = 1_000_000;
const SESSION_ID_MAX = 128;
const FILE_PATH_MAX = 4_096;

/** A required, non-blank string of at most `max` characters. */
function text(max: number) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? "is required" : "must be a string") })
    .max(max, `must be at most ${max} characters`)
    .regex(/\S/, "must not be blank");
}

function intInRange(min: number, max: number) {
  const msg = `must be an integer between ${min} and ${max}`;
  return z.int({ error: msg }).min(min, msg).max(max, msg);
}

const sessionId = z
  .string({ error: "must be a string" })
  .min(1, "must not be empty")
  .max(SESSION_ID_MAX, `must be at most ${SESSION_ID_MAX} characters`)
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");

const filePath = z
  .string({ error: (iss) => (iss.input === undefined ? "is required" : "must be a string") })
  .min(1, "must not be empty")
  .max(FILE_PATH_MAX, `must be at most ${FILE_PATH_MAX} characters`);

// ---- capability payloads (what a task's `input` holds; the task carries its own timeout) ----

export const echoPayload = z.strictObject({
  message: text(MAX_TEXT_CHARS).describe("Text the worker sends back unchanged."),
});

export const pythonPayload = z.strictObject({
  code: text(MAX_TEXT_CHARS).describe(
    "A complete Python 3 program, run as a script with `python3 -`. Print what you want to see.",
  ),
});

const terminalFields = {
  command: text(MAX_TEXT_CHARS).describe("Shell command line, run with `sh -lc` in the session's working directory."),
  session_id: sessionId
    .optional()
    .describe("Session to run in. Omit to start a new session; reuse the returned session_id to keep state."),
  create_if_missing: z
    .boolean({ error: "must be true or false" })
    .optional()
    .describe("When session_id is unknown or expired, start a fresh session under that id instead of failing."),
  lease_ttl_sec: intInRange(LEASE_MIN_SEC, LEASE_MAX_SEC)
    .optional()
    .describe(
      `How long the session stays alive after this command, in seconds (${LEASE_MIN_SEC}-${LEASE_MAX_SEC}, default ${LEASE_MIN_SEC}). Only extends, never shortens.`,
    ),
};

export const terminalPayload = z.strictObject(terminalFields);

export const terminalResourcePayload = z.strictObject({
  session_id: sessionId.describe("Session whose container holds the file."),
  file_path: filePath.describe("Path of the file inside the session container (absolute, or relative to its working directory)."),
  action: z
    .enum(["validate", "read"], { error: "must be validate or read" })
    .optional()
    .describe("validate: check the file and report its type and size; read: also return its content (base64)."),
});

/** The capabilities a task may run, with the schema of their `input`. */
export const CAPABILITY_PAYLOADS = {
  echo: echoPayload,
  pythonExec: pythonPayload,
  terminalExec: terminalPayload,
  terminalResource: terminalResourcePayload,
} as const;

export type Capability = keyof typeof CAPABILITY_PAYLOADS;
export const CAPABILITIES = Object.keys(CAPABILITY_PAYLOADS) as Capability[];

export function isCapability(name: string): name is Capability {
  return Object.hasOwn(CAPABILITY_PAYLOADS, name);
}

// ---- MCP tool arguments ----

export const echoArgs = echoPayload.extend({
  timeout_ms: intInRange(1, ECHO_TIMEOUT_MAX_MS)
    .optional()
    .describe(`Give up after this many milliseconds (default ${ECHO_TIMEOUT_DEFAULT_MS}).`),
});

export const pythonArgs = pythonPayload.extend({
  timeout_ms: intInRange(1, EXEC_TIMEOUT_MAX_MS)
    .optional()
    .describe(
      `Wall-clock limit in milliseconds (default ${EXEC_TIMEOUT_DEFAULT_MS}, max ${EXEC_TIMEOUT_MAX_MS}); the run is killed when it passes.`,
    ),
});

export const terminalArgs = terminalPayload.extend({
  timeout_ms: intInRange(1, EXEC_TIMEOUT_MAX_MS)
    .optional()
    .describe(
      `Wall-clock limit in milliseconds (default ${EXEC_TIMEOUT_DEFAULT_MS}, max ${EXEC_TIMEOUT_MAX_MS}). When it passes the command is killed AND the session is deleted.`,
    ),
});

export const readImageArgs = z.strictObject({
  session_id: sessionId.describe("The terminalExec session whose container holds the image."),
  file_path: filePath.describe("Path of the image inside the session container, e.g. /tmp/plot.png."),
  timeout_ms: intInRange(1, EXEC_TIMEOUT_MAX_MS)
    .optional()
    .describe(`Give up after this many milliseconds (default ${EXEC_TIMEOUT_DEFAULT_MS}).`),
});

// ---- MCP tool results (structuredContent) ----

export const echoResult = z.object({ message: z.string().describe("The message, unchanged.") });

export const pythonResult = z.object({
  output: z.string().describe("Everything the program wrote to stdout."),
  stderr: z.string().describe("Everything the program wrote to stderr (tracebacks land here)."),
  exit_code: z.int().describe("Process exit code: 0 on success, 1 on an uncaught exception, 137 when killed for memory."),
});

export const terminalResult = z.object({
  session_id: z.string().describe("Pass this back as session_id to keep working in the same container."),
  created: z.boolean().describe("True when this call started a new session."),
  stdout: z.string(),
  stderr: z.string(),
  exit_code: z.int().describe("Exit code of the command; non-zero is a normal result, not a tool failure."),
  stdout_truncated: z.boolean().describe("True when stdout was cut at the output limit."),
  stderr_truncated: z.boolean().describe("True when stderr was cut at the output limit."),
  lease_expires_unix_ms: z.number().describe("When the idle session will be deleted (unix ms)."),
});

/** The JSON Schema shape MCP requires for tool input/output schemas. */
export interface ObjectJsonSchema {
  type: "object";
  properties?: Record<string, object>;
  required?: string[];
  [key: string]: unknown;
}

/** Converts a zod object schema to the JSON Schema advertised in tools/list. */
export function toObjectJsonSchema(schema: z.ZodType, io: "input" | "output"): ObjectJsonSchema {
  const json = z.toJSONSchema(schema, { io, target: "draft-2020-12" }) as Record<string, unknown>;
  if (json.type !== "object") throw new Error("tool schemas must describe an object");
  // The $schema line is noise for clients; every MCP schema is 2020-12 by default.
  const { $schema: _ignored, ...rest } = json;
  return { ...rest, type: "object" };
}

/** Formats the first zod issue as `field: message` so a caller (human or LLM) sees exactly what to fix. */
export function describeIssues(err: z.ZodError, prefix = ""): string {
  const issue = err.issues[0];
  if (!issue) return "invalid arguments";
  if (issue.code === "unrecognized_keys") {
    const where = [prefix, ...issue.path.map(String)].filter(Boolean).join(".");
    const names = issue.keys.join(", ");
    return where ? `${where}: unknown field: ${names}` : `unknown field: ${names}`;
  }
  const path = [prefix, ...issue.path.map(String)].filter(Boolean).join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}
