import { z } from "zod/v4";
import { RUN_END_ERRORS, SESSION_CALL_ERRORS } from "./errors.ts";
import { EXEC_TIMEOUT_MS, flag, intBetween, MAX_TEXT_CHARS, sessionId, text, timeoutMs } from "./fields.ts";
import { TERMINAL_LEASE_LIMIT_SEC } from "./terminal-exec.ts";

/**
 * Bounds of pythonExec's `files`: a few inputs travel inside the call (the REST body is
 * at most 1 MiB, an MCP request 4 MiB, and base64 costs 4/3); larger data belongs in a
 * session's files API.
 */
export const PYTHON_FILES = { maxCount: 32, maxTotalBytes: 2 * 1024 * 1024, maxPathLength: 1024 } as const;

/** The MIME type of every figure pythonExec returns. */
export const PYTHON_IMAGE_MIME = "image/png";

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Bytes a base64 text decodes to (it is checked to be canonical base64 first). */
function base64Bytes(s: string): number {
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

/** Bytes of a file's content as written (UTF-8 for `content`). */
export function inputFileBytes(f: { content?: string | undefined; content_base64?: string | undefined }): number {
  if (f.content_base64 !== undefined) return base64Bytes(f.content_base64);
  return new TextEncoder().encode(f.content ?? "").length;
}

/**
 * A path relative to the run's working directory that stays inside it: no leading `/`,
 * no `.` or `..` segment, no empty segment, no NUL.
 */
const inputFilePath = z
  .string({ error: "must be a string" })
  .min(1, "must not be empty")
  .max(PYTHON_FILES.maxPathLength, `must be at most ${PYTHON_FILES.maxPathLength} characters`)
  .refine((p) => !p.includes("\0"), "must not contain NUL characters")
  .refine(
    (p) => !p.startsWith("/") && p.split("/").every((seg) => seg !== "" && seg !== "." && seg !== ".."),
    "must be a relative path inside the working directory (no leading /, no empty, . or .. segment)",
  );

/** One file written into the working directory before the code runs. */
export const pythonInputFile = z
  .strictObject({
    path: inputFilePath.describe("Where to write it, relative to the working directory (e.g. data/in.csv)."),
    content: z.string({ error: "must be a string" }).optional().describe("The file's text, written as UTF-8."),
    content_base64: z
      .string({ error: "must be a string" })
      .regex(BASE64, "must be standard base64 (A-Z a-z 0-9 + /, = padding)")
      .optional()
      .describe("The file's bytes in base64 (for binary files)."),
  })
  .refine((f) => (f.content === undefined) !== (f.content_base64 === undefined), {
    message: "give exactly one of content and content_base64",
  });

const filesField = z
  .array(pythonInputFile, { error: "must be an array of {path, content | content_base64}" })
  .max(PYTHON_FILES.maxCount, `must hold at most ${PYTHON_FILES.maxCount} files`)
  .superRefine((files, ctx) => {
    const seen = new Set<string>();
    let total = 0;
    for (const [i, f] of files.entries()) {
      if (seen.has(f.path)) ctx.addIssue({ code: "custom", path: [i, "path"], message: `names ${f.path} twice` });
      seen.add(f.path);
      total += inputFileBytes(f);
    }
    if (total > PYTHON_FILES.maxTotalBytes) {
      ctx.addIssue({
        code: "custom",
        message: `must hold at most ${PYTHON_FILES.maxTotalBytes} bytes in all (got ${total}); upload larger data through a session's files`,
      });
    }
  })
  .optional()
  .describe(
    `Files written into the working directory before the code runs (at most ${PYTHON_FILES.maxCount}, ${PYTHON_FILES.maxTotalBytes} bytes in all).`,
  );

/** What a task's `input` holds (the task carries its own timeout). */
export const pythonExecInput = z.strictObject({
  code: text(MAX_TEXT_CHARS).describe(
    "Python 3 code. Without session_id it runs as a script in a fresh interpreter; with one it runs as the next cell of that session's interpreter. Print what you want to see.",
  ),
  files: filesField,
  session_id: sessionId
    .optional()
    .describe(
      "Run in this session's persistent interpreter (variables and imports survive between calls; the working directory /workspace is shared with terminalExec). Omit for a fresh run.",
    ),
  create_if_missing: flag()
    .optional()
    .describe("With session_id: start the session when it is unknown or expired instead of failing."),
  reset: flag().optional().describe("With session_id: start a fresh interpreter before running (files stay)."),
});

/** The MCP `pythonExec` arguments (and a task's input with its timeout). */
export const pythonExecRequest = pythonExecInput.extend({
  timeout_ms: timeoutMs(EXEC_TIMEOUT_MS.max).describe(
    `Wall-clock limit in milliseconds (default ${EXEC_TIMEOUT_MS.default}, max ${EXEC_TIMEOUT_MS.max}); a fresh run is killed when it passes, a session's cell is interrupted (KeyboardInterrupt) and the session kept.`,
  ),
});

/**
 * What the worker receives: the request, where `session_id` is the worker's own key of
 * the session (never the client's id), with the lease to keep it for.
 */
export const pythonExecPayload = pythonExecRequest.extend({
  lease_ttl_sec: intBetween(TERMINAL_LEASE_LIMIT_SEC.min, TERMINAL_LEASE_LIMIT_SEC.max).optional(),
});

/** One figure the run left open (or passed to `plt.show()`), as PNG. */
export const pythonImage = z.object({
  mime_type: z.string().describe("Always image/png."),
  data_base64: z.string().describe("The image's bytes in base64."),
});

/** The worker's answer; the `_truncated` flags appear only when a stream was cut at the output limit. */
export const pythonExecResult = z.object({
  output: z.string().describe("Everything the program wrote to stdout."),
  stderr: z.string().describe("Everything the program wrote to stderr (tracebacks land here)."),
  exit_code: z.int().describe("Process exit code: 0 on success, 1 on an uncaught exception, 137 when killed for memory."),
  output_truncated: z.literal(true).optional().describe("Present when stdout was cut at the output limit."),
  stderr_truncated: z.literal(true).optional().describe("Present when stderr was cut at the output limit."),
  images: z
    .array(pythonImage)
    .default([])
    .describe("Every matplotlib figure open at the end of the run or passed to plt.show(), as PNG, in order."),
  images_truncated: z.literal(true).optional().describe("Present when figures were left out at the image size limit."),
  session_id: z.string().optional().describe("The session the code ran in (session runs only)."),
  created: z.boolean().optional().describe("True when this call started the session."),
  timed_out: z
    .literal(true)
    .optional()
    .describe(
      "Present when a session's cell hit timeout_ms and was interrupted (its state is kept unless interpreter_restarted).",
    ),
  interpreter_restarted: z
    .literal(true)
    .optional()
    .describe("Present when the session's interpreter had to be restarted: its variables and imports are gone (files stay)."),
  lease_expires_unix_ms: z.int().optional().describe("When the session ends if unused (session runs only)."),
});

/** Codes a pythonExec run may end with besides the placement ones. */
export const PYTHON_EXEC_ERRORS = [...SESSION_CALL_ERRORS, ...RUN_END_ERRORS] as const;

export type PythonInputFile = z.infer<typeof pythonInputFile>;
export type PythonExecInput = z.infer<typeof pythonExecInput>;
export type PythonExecRequest = z.infer<typeof pythonExecRequest>;
export type PythonExecPayload = z.infer<typeof pythonExecPayload>;
export type PythonExecResult = z.infer<typeof pythonExecResult>;
export type PythonImage = z.infer<typeof pythonImage>;
