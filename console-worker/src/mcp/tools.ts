import { type CallToolResult, ErrorCode, McpError, type Tool } from "@modelcontextprotocol/sdk/types.js";
import {
  check,
  ECHO_TIMEOUT_MS,
  EXEC_TIMEOUT_MS,
  echoRequest,
  echoResult,
  fileListResult,
  listFilesArgs,
  pythonExecRequest,
  pythonExecResult,
  readFileArgs,
  TERMINAL_LEASE_SEC,
  terminalExecArgs,
  terminalExecResult,
  writeFileArgs,
} from "@onlyboxes/proto";
import { z } from "zod/v4";
import { type CapabilityCall, runCapability } from "../capabilities/run-capability.ts";
import { downloadFile, listFiles, uploadFile } from "../capabilities/session-files.ts";
import { readTerminalResource, runTerminal } from "../capabilities/terminal.ts";
import type { Env } from "../env.ts";
import { fromBase64 } from "../lib/crypto.ts";
import type { OutputChunk } from "../lib/dispatch.ts";
import { AppError } from "../lib/errors.ts";
import { readImageArgs, toObjectJsonSchema } from "./schemas.ts";
import { type FailureContext, toolFailure } from "./tool-errors.ts";

/** What a tool call may use besides its arguments. */
export interface ToolContext {
  env: Env;
  accountId: string;
  /** Aborted when the client cancels the request. */
  signal: AbortSignal;
  /** Present when the client asked for progress on a streamed answer: receives output as it arrives. */
  onOutput?: (chunk: OutputChunk) => void;
}

/** A tool as the server sees it: its tools/list entry and a validating entry point. */
export interface McpTool {
  readonly name: string;
  /** The tools/list entry (schemas converted once, on first use). */
  definition(): Tool;
  /** Validates `args` (throws McpError -32602 naming the field) and returns the call to run. */
  prepare(args: unknown): (ctx: ToolContext) => Promise<CallToolResult>;
}

interface ToolSpec<A extends z.ZodType> {
  name: string;
  title: string;
  description: string;
  args: A;
  result?: z.ZodType;
  annotations: NonNullable<Tool["annotations"]>;
  /** What a failure's advice may name (timeout, session, file); what `run` throws becomes the tool's error result. */
  failure(args: z.infer<A>): Omit<FailureContext, "tool">;
  run(ctx: ToolContext, args: z.infer<A>): Promise<CallToolResult>;
}

function defineTool<A extends z.ZodType>(spec: ToolSpec<A>): McpTool {
  let cached: Tool | undefined;
  return {
    name: spec.name,
    definition() {
      cached ??= {
        name: spec.name,
        title: spec.title,
        description: spec.description,
        inputSchema: toObjectJsonSchema(spec.args, "input"),
        ...(spec.result ? { outputSchema: toObjectJsonSchema(spec.result, "output") } : {}),
        annotations: { title: spec.title, ...spec.annotations },
      };
      return cached;
    },
    prepare(args) {
      const checked = check(spec.args, args ?? {});
      if (!checked.ok) {
        throw new McpError(ErrorCode.InvalidParams, `Invalid arguments for tool ${spec.name}: ${checked.message}`);
      }
      const data = checked.data;
      return async (ctx) => {
        try {
          return await spec.run(ctx, data);
        } catch (err) {
          return toolFailure(err, { tool: spec.name, ...spec.failure(data) });
        }
      };
    },
  };
}

/** Builds the result of a tool with an output schema: structuredContent plus the same JSON as text. */
function structured(tool: string, schema: z.ZodType, raw: unknown): CallToolResult {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    return toolFailure(new AppError("worker_error", `the worker returned an unexpected ${tool} result`), { tool });
  }
  const data = parsed.data as Record<string, unknown>;
  return { content: [{ type: "text", text: JSON.stringify(data) }], structuredContent: data };
}

const echoTool = defineTool({
  name: "echo",
  title: "Echo",
  description:
    "Sends a message to a sandbox worker and returns it unchanged. It runs no code: use it only to check that " +
    "the sandbox is reachable and a worker is online before running real work. Returns {message}.",
  args: echoRequest,
  result: echoResult,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  failure: (args) => ({ timeoutMs: args.timeout_ms ?? ECHO_TIMEOUT_MS.default }),
  async run(ctx, args) {
    const raw = await runCapability(
      ctx.env,
      { capability: "echo", payload: { message: args.message } },
      { accountId: ctx.accountId, timeoutMs: args.timeout_ms ?? ECHO_TIMEOUT_MS.default, signal: ctx.signal },
    );
    return structured("echo", echoResult, raw);
  },
});

/**
 * The pythonExec result for MCP: the structured result, its JSON as text with each
 * image's data left out (it follows once, as an image content block), then the images.
 */
function pythonContent(raw: unknown): CallToolResult {
  const parsed = pythonExecResult.safeParse(raw);
  if (!parsed.success) {
    return toolFailure(new AppError("worker_error", "the worker returned an unexpected pythonExec result"), {
      tool: "pythonExec",
    });
  }
  const data = parsed.data;
  const summary = { ...data, images: data.images.map((i) => ({ mime_type: i.mime_type })) };
  return {
    content: [
      { type: "text", text: JSON.stringify(summary) },
      ...data.images.map((i) => ({ type: "image" as const, data: i.data_base64, mimeType: i.mime_type })),
    ],
    structuredContent: data,
  };
}

/** What a pythonExec or terminalExec failure's advice may name. */
function execFailure(args: { timeout_ms?: number | undefined; session_id?: string | undefined }): Omit<FailureContext, "tool"> {
  return { timeoutMs: args.timeout_ms ?? EXEC_TIMEOUT_MS.default, ...(args.session_id ? { sessionId: args.session_id } : {}) };
}

/**
 * Runs a pythonExec or terminalExec tool call: the call's timeout split off its
 * arguments, output streamed when the client asked for progress.
 */
async function runExecTool(
  ctx: ToolContext,
  call: Extract<CapabilityCall, { capability: "pythonExec" | "terminalExec" }>,
  timeoutMs: number | undefined,
  toResult: (raw: unknown) => CallToolResult,
): Promise<CallToolResult> {
  const raw = await runCapability(ctx.env, call, {
    accountId: ctx.accountId,
    timeoutMs: timeoutMs ?? EXEC_TIMEOUT_MS.default,
    signal: ctx.signal,
    ...(ctx.onOutput ? { onOutput: ctx.onOutput } : {}),
  });
  return toResult(raw);
}

const pythonTool = defineTool({
  name: "pythonExec",
  title: "Run Python",
  description:
    "Runs Python 3 code in an isolated Linux container and returns {output, stderr, exit_code, images} (output is " +
    "stdout). Use it to compute, analyse data (numpy, pandas, scipy, scikit-learn), draw charts with matplotlib, or " +
    "check facts by running code. Every matplotlib figure left open (or passed to plt.show()) comes back as a PNG " +
    "image after the text. files: [{path, content | content_base64}] are written into the working directory first. " +
    "Without session_id every call starts clean. With session_id (and create_if_missing on the first call) the code " +
    "runs in that session's persistent interpreter: variables, imports and loaded data survive between calls, like " +
    "notebook cells (a final expression's value is printed), and /workspace is shared with terminalExec; reset: true " +
    "starts a fresh interpreter. A session runs one call at a time (session_busy otherwise). Limits: no network access, " +
    `256 MB memory, 1 CPU. Default time limit ${EXEC_TIMEOUT_MS.default / 1000} s (timeout_ms, up to ${EXEC_TIMEOUT_MS.max}): a ` +
    "fresh run is killed, a session's cell is interrupted (timed_out) and its state kept. A non-zero exit_code " +
    "(for example an uncaught exception) is a normal result: read stderr, fix the code and run it again.",
  args: pythonExecRequest,
  result: pythonExecResult,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  failure: execFailure,
  run: (ctx, { timeout_ms, ...payload }) => runExecTool(ctx, { capability: "pythonExec", payload }, timeout_ms, pythonContent),
});

const terminalTool = defineTool({
  name: "terminalExec",
  title: "Run a shell command",
  description:
    "Runs a shell command (`sh -lc`) in a persistent Linux container session and returns " +
    `{${Object.keys(terminalExecResult.shape).join(", ")}}. Use it for multi-step ` +
    "work that needs files to persist: write files, run scripts, inspect results. Omit session_id to start a new " +
    "session; pass the returned session_id on later calls to continue in the same container (files persist; chain " +
    "commands with && when they depend on the same working directory or variables). A session runs one command at a time " +
    `(a concurrent call fails with session_busy) and is deleted after lease_ttl_sec seconds without use (default ${TERMINAL_LEASE_SEC.default}, ` +
    `max ${TERMINAL_LEASE_SEC.max}) or when a command times out. No network access. stdout and stderr are each cut at 1 MiB (the ` +
    "*_truncated flags say so). A non-zero exit_code is a normal result, not a tool failure.",
  args: terminalExecArgs,
  result: terminalExecResult,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  failure: execFailure,
  run: (ctx, { timeout_ms, ...payload }) =>
    runExecTool(ctx, { capability: "terminalExec", payload }, timeout_ms, (raw) =>
      structured("terminalExec", terminalExecResult, raw),
    ),
});

const readImageTool = defineTool({
  name: "readImage",
  title: "Read an image",
  description:
    "Returns an image file from a session's container so you can look at it, for example a chart you saved with " +
    "matplotlib (plt.savefig('chart.png') in pythonExec or terminalExec with that session) or a screenshot. Give the session_id that terminalExec returned and the file's path. " +
    "Only image/* files (PNG, JPEG, GIF, WebP, ...) come back as an image; any other file type gives a short text " +
    "note naming its type. Files above the worker's read limit (1 MiB by default) are refused: save a smaller image.",
  args: readImageArgs,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  failure: (args) => ({
    timeoutMs: args.timeout_ms ?? EXEC_TIMEOUT_MS.default,
    sessionId: args.session_id,
    filePath: args.file_path,
  }),
  async run(ctx, args) {
    const timeoutMs = args.timeout_ms ?? EXEC_TIMEOUT_MS.default;
    // Check the type first so a large non-image file is never transferred.
    const checked = await readTerminalResource(ctx.env, ctx.accountId, {
      session_id: args.session_id,
      file_path: args.file_path,
      action: "validate",
      timeout_ms: timeoutMs,
    });
    const mime = checked.mime_type.split(";")[0]?.trim().toLowerCase() ?? "";
    if (!mime.startsWith("image/")) {
      return { content: [{ type: "text", text: `unsupported mime type: ${checked.mime_type}; expected image/*` }] };
    }
    const read = await readTerminalResource(ctx.env, ctx.accountId, {
      session_id: args.session_id,
      file_path: args.file_path,
      action: "read",
      timeout_ms: timeoutMs,
    });
    if (read.blob === undefined) throw new AppError("worker_error", "the worker returned no file content");
    return { content: [{ type: "image", data: read.blob, mimeType: read.mime_type }] };
  },
});

/** Largest file readFile returns: it travels base64 inside one JSON-RPC answer. */
export const MCP_READ_MAX_BYTES = 16 * 1024 * 1024;

const writeFileResult = z.object({
  session_id: z.string().describe("The session the file is in; pass it to terminalExec, readFile or listFiles."),
  path: z.string(),
  size: z.number().describe("Bytes now in the file."),
  created: z.boolean().describe("True when this call started the session."),
});

/** The bytes of a whole stream (bounded by the caller's limit on the download). */
async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** Text when the type says so, or when the bytes are UTF-8 without NUL characters. */
function asText(mimeType: string, bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return null;
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return mimeType.startsWith("text/") ? new TextDecoder().decode(bytes) : null;
  }
}

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

const writeFileTool = defineTool({
  name: "writeFile",
  title: "Write a file",
  description:
    "Writes a file into a session's container (parent directories are created; an existing file is replaced), for " +
    "example a CSV the user gave you, so terminalExec can work on it. Give content (text) or content_base64 " +
    "(binary). Omit session_id to start a new session: the result names it; pass it to terminalExec, readFile and " +
    "listFiles. Paths are relative to /workspace, the session's working directory, or absolute inside the container.",
  args: writeFileArgs,
  result: writeFileResult,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  failure: (args) => ({ filePath: args.path, ...(args.session_id ? { sessionId: args.session_id } : {}) }),
  async run(ctx, args) {
    const bytes =
      args.content_base64 !== undefined ? fromBase64(args.content_base64) : new TextEncoder().encode(args.content ?? "");
    let sessionId = args.session_id;
    let created = false;
    if (sessionId === undefined || args.create_if_missing === true) {
      // Starts the session (or finds the named one): the same path as terminalExec's implicit creation.
      const started = await runTerminal(ctx.env, ctx.accountId, {
        command: "true",
        ...(sessionId !== undefined ? { session_id: sessionId, create_if_missing: true } : {}),
      });
      sessionId = started.session_id;
      created = started.created;
    }
    const written = await uploadFile(
      ctx.env,
      ctx.accountId,
      sessionId,
      args.path,
      new Response(bytes).body ?? new ReadableStream(),
    );
    return structured("writeFile", writeFileResult, { session_id: sessionId, ...written, created });
  },
});

const readFileTool = defineTool({
  name: "readFile",
  title: "Read a file",
  description:
    "Returns a file from a session's container: text files as text, images (PNG, JPEG, ...) as an image you can " +
    "look at, any other file as an embedded binary resource (base64). Give the session_id that terminalExec or " +
    `writeFile returned and the file's path (relative to /workspace, or absolute). Files above ${MCP_READ_MAX_BYTES / 1024 / 1024} MiB are refused.`,
  args: readFileArgs,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  failure: (args) => ({ sessionId: args.session_id, filePath: args.path }),
  async run(ctx, args) {
    const file = await downloadFile(ctx.env, ctx.accountId, args.session_id, args.path, MCP_READ_MAX_BYTES);
    const bytes = await readAll(file.body);
    await file.done;
    const mime = file.mimeType.split(";")[0]?.trim().toLowerCase() ?? "application/octet-stream";
    if (mime.startsWith("image/")) return { content: [{ type: "image", data: toBase64(bytes), mimeType: mime }] };
    const text = asText(mime, bytes);
    if (text !== null) return { content: [{ type: "text", text }] };
    const uri = `file://${args.path.startsWith("/") ? "" : "/workspace/"}${args.path.split("/").map(encodeURIComponent).join("/")}`;
    return { content: [{ type: "resource", resource: { uri, mimeType: mime, blob: toBase64(bytes) } }] };
  },
});

const listFilesTool = defineTool({
  name: "listFiles",
  title: "List files",
  description:
    "Lists a directory in a session's container: each entry's name, type (file, dir, symlink), size in bytes and " +
    "modification time (unix ms). Without path it lists /workspace, the session's working directory.",
  args: listFilesArgs,
  result: fileListResult,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  failure: (args) => ({ sessionId: args.session_id, filePath: args.path ?? "." }),
  async run(ctx, args) {
    const path = args.path ?? ".";
    return structured("listFiles", fileListResult, await listFiles(ctx.env, ctx.accountId, args.session_id, path));
  },
});

/** The contract's tools and the file tools, by name. */
export const TOOLS: ReadonlyMap<string, McpTool> = new Map(
  [echoTool, pythonTool, terminalTool, readImageTool, writeFileTool, readFileTool, listFilesTool].map((t) => [t.name, t]),
);

/** Tools whose output may stream as progress notifications. */
export const STREAMING_TOOLS: ReadonlySet<string> = new Set(["pythonExec", "terminalExec"]);
