import { type CallToolResult, ErrorCode, McpError, type Tool } from "@modelcontextprotocol/sdk/types.js";
import {
  check,
  ECHO_TIMEOUT_MS,
  EXEC_TIMEOUT_MS,
  echoRequest,
  echoResult,
  pythonExecRequest,
  pythonExecResult,
  TERMINAL_LEASE_SEC,
  terminalExecArgs,
  terminalExecResult,
} from "@onlyboxes/proto";
import type { z } from "zod/v4";
import { runCapability } from "../capabilities/run-capability.ts";
import { readTerminalResource } from "../capabilities/terminal.ts";
import type { Env } from "../env.ts";
import type { OutputChunk } from "../lib/dispatch.ts";
import { AppError } from "../lib/errors.ts";
import { readImageArgs, toObjectJsonSchema } from "./schemas.ts";
import { toolFailure } from "./tool-errors.ts";

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
      return (ctx) => spec.run(ctx, data);
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
  async run(ctx, args) {
    const timeoutMs = args.timeout_ms ?? ECHO_TIMEOUT_MS.default;
    try {
      const raw = await runCapability(
        ctx.env,
        { capability: "echo", payload: { message: args.message } },
        { accountId: ctx.accountId, timeoutMs, signal: ctx.signal },
      );
      return structured("echo", echoResult, raw);
    } catch (err) {
      return toolFailure(err, { tool: "echo", timeoutMs });
    }
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
  async run(ctx, args) {
    const timeoutMs = args.timeout_ms ?? EXEC_TIMEOUT_MS.default;
    const { timeout_ms: _timeout, ...payload } = args;
    try {
      const raw = await runCapability(
        ctx.env,
        { capability: "pythonExec", payload },
        { accountId: ctx.accountId, timeoutMs, signal: ctx.signal, ...(ctx.onOutput ? { onOutput: ctx.onOutput } : {}) },
      );
      return pythonContent(raw);
    } catch (err) {
      return toolFailure(err, { tool: "pythonExec", timeoutMs, ...(args.session_id ? { sessionId: args.session_id } : {}) });
    }
  },
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
  async run(ctx, args) {
    const timeoutMs = args.timeout_ms ?? EXEC_TIMEOUT_MS.default;
    const { timeout_ms: _timeout, ...payload } = args;
    try {
      const raw = await runCapability(
        ctx.env,
        { capability: "terminalExec", payload },
        { accountId: ctx.accountId, timeoutMs, signal: ctx.signal, ...(ctx.onOutput ? { onOutput: ctx.onOutput } : {}) },
      );
      return structured("terminalExec", terminalExecResult, raw);
    } catch (err) {
      return toolFailure(err, { tool: "terminalExec", timeoutMs, ...(args.session_id ? { sessionId: args.session_id } : {}) });
    }
  },
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
  async run(ctx, args) {
    const timeoutMs = args.timeout_ms ?? EXEC_TIMEOUT_MS.default;
    const failure = { tool: "readImage", timeoutMs, sessionId: args.session_id, filePath: args.file_path };
    try {
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
    } catch (err) {
      return toolFailure(err, failure);
    }
  },
});

/** The contract's tools, by name. */
export const TOOLS: ReadonlyMap<string, McpTool> = new Map(
  [echoTool, pythonTool, terminalTool, readImageTool].map((t) => [t.name, t]),
);

/** Tools whose output may stream as progress notifications. */
export const STREAMING_TOOLS: ReadonlySet<string> = new Set(["pythonExec", "terminalExec"]);
