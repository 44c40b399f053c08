import { z } from "zod/v4";
import { FILE_ERRORS, RUN_END_ERRORS, SESSION_CALL_ERRORS } from "./errors.ts";
import { EXEC_TIMEOUT_MS, filePath, sessionId, timeoutMs } from "./fields.ts";

/** What to do with the file: check its type and size, or also return its content. */
export const TERMINAL_RESOURCE_ACTIONS = ["validate", "read"] as const;

const actionField = z.enum(TERMINAL_RESOURCE_ACTIONS, { error: "must be validate or read" });

/** What a task's `input` holds; `action` defaults to `read`. */
export const terminalResourceInput = z.strictObject({
  session_id: sessionId.describe("Session whose container holds the file."),
  file_path: filePath.describe("Path of the file inside the session container (absolute, or relative to its working directory)."),
  action: actionField
    .optional()
    .describe("validate: check the file and report its type and size; read: also return its content (base64)."),
});

/** What the console sends the worker: the worker's session key and an explicit action. */
export const terminalResourcePayload = z.strictObject({
  session_id: sessionId,
  file_path: filePath,
  action: actionField,
  timeout_ms: timeoutMs(EXEC_TIMEOUT_MS.max),
});

/** The worker's answer; `blob` (base64) only for `read`. */
export const terminalResourceResult = z.object({
  session_id: z.string(),
  file_path: z.string(),
  mime_type: z.string(),
  size_bytes: z.number(),
  blob: z.string().optional(),
});

/** Codes a resource request may end with besides the placement ones. */
export const TERMINAL_RESOURCE_ERRORS = [...SESSION_CALL_ERRORS, ...FILE_ERRORS, ...RUN_END_ERRORS] as const;

export type TerminalResourceInput = z.infer<typeof terminalResourceInput>;
export type TerminalResourcePayload = z.infer<typeof terminalResourcePayload>;
export type TerminalResourceResult = z.infer<typeof terminalResourceResult>;
