import { z } from "zod/v4";
import { FILE_ERRORS, RUN_END_ERRORS, SESSION_CALL_ERRORS } from "./errors.ts";
import { filePath, flag, intBetween, sessionId } from "./fields.ts";
import { TERMINAL_LEASE_SEC } from "./terminal-exec.ts";

/*
 * sessionFiles: files in a terminal session's container, and the session's end. The file
 * bytes never travel in `payload_json` or the result: they move as `FileChunk` frames
 * (upload console → worker after the dispatch, download worker → console before the
 * result), FILE_CHUNK_BYTES at most each, with at most FILE_CHUNK_WINDOW pieces not yet
 * acknowledged (`FileChunkAck`), so neither side holds more than a window of a file.
 *
 * Not a task capability: a file travels with the request that carries it, so this
 * contract has its own front doors (REST `/api/v1/sessions`, MCP writeFile, readFile,
 * listFiles) and is not in CAPABILITY_CONTRACTS.
 */

const MIB = 1024 * 1024;

/** Largest file either side moves unless configured (CONSOLE_FILE_MAX_BYTES, WORKER_FILE_MAX_BYTES). */
export const DEFAULT_FILE_MAX_BYTES = 64 * MIB;
/** Bounds of a configured file limit. */
export const FILE_MAX_BYTES_LIMIT = { min: 1, max: 16 * 1024 * MIB } as const;
/** Largest piece of a file in one frame. */
export const FILE_CHUNK_BYTES = 512 * 1024;
/** Pieces a sender may have in flight before it waits for an acknowledgement. */
export const FILE_CHUNK_WINDOW = 8;
/** Most entries one listing returns (a directory with more is cut). */
export const FILE_LIST_MAX_ENTRIES = 10_000;

/** The name of the worker capability. */
export const SESSION_FILES_CAPABILITY = "sessionFiles";

const maxBytes = intBetween(FILE_MAX_BYTES_LIMIT.min, FILE_MAX_BYTES_LIMIT.max);

/** What the console sends the worker: the worker's key of the session and one operation. */
export const sessionFilesPayload = z.discriminatedUnion("op", [
  z.strictObject({ op: z.literal("write"), session_id: sessionId, path: filePath, max_bytes: maxBytes }),
  z.strictObject({ op: z.literal("read"), session_id: sessionId, path: filePath, max_bytes: maxBytes }),
  z.strictObject({ op: z.literal("delete"), session_id: sessionId, path: filePath }),
  z.strictObject({ op: z.literal("list"), session_id: sessionId, path: filePath }),
  z.strictObject({ op: z.literal("end_session"), session_id: sessionId }),
]);

/** `write`: the path as given and the bytes now in the file (also the REST body of PUT …/files). */
export const fileWriteResult = z.object({ path: z.string(), size: z.number() });
/** `read`: what the download's first piece announced. */
export const fileReadResult = z.object({ path: z.string(), size: z.number(), mime_type: z.string() });
/** `delete`. */
export const fileDeleteResult = z.object({ path: z.string() });
/** One directory entry; `mtime` in unix ms. */
export const fileEntry = z.object({
  name: z.string(),
  type: z.enum(["file", "dir", "symlink", "other"]),
  size: z.number(),
  mtime: z.number(),
});
/** `list` (also the REST body of GET …/files/list). */
export const fileListResult = z.object({ path: z.string(), entries: z.array(fileEntry) });
/** `end_session`: whether the worker still had the session's container. */
export const sessionEndResult = z.object({ ended: z.boolean() });

/** Codes a file operation may end with besides the placement ones. */
export const SESSION_FILES_ERRORS = [...SESSION_CALL_ERRORS, ...FILE_ERRORS, "disk_full", ...RUN_END_ERRORS] as const;

const leaseField = intBetween(TERMINAL_LEASE_SEC.min, TERMINAL_LEASE_SEC.max)
  .optional()
  .describe(
    `How long the idle session lives, in seconds (${TERMINAL_LEASE_SEC.min}-${TERMINAL_LEASE_SEC.max}, default ${TERMINAL_LEASE_SEC.default}).`,
  );

/** `POST /api/v1/sessions` body. */
export const createSessionRequest = z.strictObject({ lease_ttl_sec: leaseField });

/** A session as REST shows it. */
export const sessionView = z.object({
  session_id: z.string(),
  created_at: z.string(),
  last_used_at: z.string(),
  lease_expires_unix_ms: z.number(),
  busy: z.boolean(),
});

/** The `path` query of the file routes. */
export const fileQuery = z.object({ path: filePath });
/** The `path` query of the listing; the working directory when absent. */
export const listQuery = z.object({ path: filePath.optional() });

const pathDescription = "Path inside the session container: relative to /workspace (the working directory) or absolute.";

/** MCP `writeFile` arguments: text or base64 content (not both; neither writes an empty file). */
export const writeFileArgs = z
  .strictObject({
    path: filePath.describe(`${pathDescription} Parent directories are created.`),
    content: z.string({ error: "must be a string" }).optional().describe("The file's content as UTF-8 text."),
    content_base64: z
      .base64({ error: "must be base64" })
      .optional()
      .describe("The file's content as base64 (for binary files). Give content or content_base64, not both."),
    session_id: sessionId.optional().describe("Session to write into. Omit to start a new session; the result names it."),
    create_if_missing: flag().optional().describe("When session_id is unknown or expired, start a session under that id."),
  })
  .refine((a) => a.content === undefined || a.content_base64 === undefined, {
    message: "give content or content_base64, not both",
    path: ["content_base64"],
  });

/** MCP `readFile` arguments. */
export const readFileArgs = z.strictObject({
  session_id: sessionId.describe("The session whose container holds the file."),
  path: filePath.describe(pathDescription),
});

/** MCP `listFiles` arguments. */
export const listFilesArgs = z.strictObject({
  session_id: sessionId.describe("The session whose container to look in."),
  path: filePath.optional().describe(`Directory to list (default: /workspace). ${pathDescription}`),
});

export type SessionFilesPayload = z.infer<typeof sessionFilesPayload>;
export type FileWriteResult = z.infer<typeof fileWriteResult>;
export type FileReadResult = z.infer<typeof fileReadResult>;
export type FileEntry = z.infer<typeof fileEntry>;
export type FileListResult = z.infer<typeof fileListResult>;
export type SessionEndResult = z.infer<typeof sessionEndResult>;
export type SessionView = z.infer<typeof sessionView>;
export type WriteFileArgs = z.infer<typeof writeFileArgs>;
