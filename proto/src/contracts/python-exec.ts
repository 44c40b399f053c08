import { z } from "zod/v4";
import type { ErrorCode } from "./errors.ts";
import { EXEC_TIMEOUT_MS, MAX_TEXT_CHARS, text, timeoutMs } from "./fields.ts";

/** What a task's `input` holds (the task carries its own timeout). */
export const pythonExecInput = z.strictObject({
  code: text(MAX_TEXT_CHARS).describe(
    "A complete Python 3 program, run as a script with `python3 -`. Print what you want to see.",
  ),
});

/** The MCP `pythonExec` arguments, and the worker's payload (the console sends no timeout: the frame has the deadline). */
export const pythonExecRequest = pythonExecInput.extend({
  timeout_ms: timeoutMs(EXEC_TIMEOUT_MS.max).describe(
    `Wall-clock limit in milliseconds (default ${EXEC_TIMEOUT_MS.default}, max ${EXEC_TIMEOUT_MS.max}); the run is killed when it passes.`,
  ),
});

/** The worker's answer; the `_truncated` flags appear only when a stream was cut at the output limit. */
export const pythonExecResult = z.object({
  output: z.string().describe("Everything the program wrote to stdout."),
  stderr: z.string().describe("Everything the program wrote to stderr (tracebacks land here)."),
  exit_code: z.int().describe("Process exit code: 0 on success, 1 on an uncaught exception, 137 when killed for memory."),
  output_truncated: z.literal(true).optional().describe("Present when stdout was cut at the output limit."),
  stderr_truncated: z.literal(true).optional().describe("Present when stderr was cut at the output limit."),
});

/** Codes a pythonExec run may end with besides the placement ones. */
export const PYTHON_EXEC_ERRORS = [
  "invalid_argument",
  "deadline_exceeded",
  "canceled",
  "worker_error",
] as const satisfies readonly ErrorCode[];

export type PythonExecInput = z.infer<typeof pythonExecInput>;
export type PythonExecRequest = z.infer<typeof pythonExecRequest>;
export type PythonExecResult = z.infer<typeof pythonExecResult>;
