import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type ProgressToken,
} from "@modelcontextprotocol/sdk/types.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import type { Env } from "../env.ts";
import type { OutputChunk } from "../lib/dispatch.ts";
import { STREAMING_TOOLS, TOOLS } from "./tools.ts";

export interface McpServerOptions {
  env: Env;
  accountId: string;
  version: string;
  /** The answer is an SSE stream, so progress notifications can reach the client. */
  streaming: boolean;
}

const INSTRUCTIONS =
  "Onlyboxes runs code in isolated, network-less Linux containers. Use pythonExec for one-off Python " +
  "(every call starts clean), terminalExec for multi-step shell work in a persistent session (keep the " +
  "returned session_id), and readImage to look at an image file a session produced. A non-zero exit_code " +
  "is a normal result; read stderr and try again.";

/**
 * Builds a low-level MCP server for one request (stateless: a new server per POST). Tool
 * arguments are validated before anything runs: unknown tools and bad arguments answer the
 * JSON-RPC error -32602; execution failures are tool results with `isError: true`.
 */
export function createMcpServer(opts: McpServerOptions): Server {
  const server = new Server(
    { name: "onlyboxes", title: "Onlyboxes code sandbox", version: opts.version },
    {
      capabilities: { tools: { listChanged: false } },
      instructions: INSTRUCTIONS,
      // Ajv compiles schemas with eval, which workerd forbids.
      jsonSchemaValidator: new CfWorkerJsonSchemaValidator(),
    },
  );

  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [...TOOLS.values()].map((t) => t.definition()),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name } = request.params;
    const tool = TOOLS.get(name);
    if (!tool) {
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}. Available tools: ${[...TOOLS.keys()].join(", ")}`);
    }
    const call = tool.prepare(request.params.arguments);
    const progressToken = request.params._meta?.progressToken;
    const onOutput =
      opts.streaming && progressToken !== undefined && STREAMING_TOOLS.has(name)
        ? progressReporter(progressToken, (n) => extra.sendNotification(n))
        : undefined;
    return call({
      env: opts.env,
      accountId: opts.accountId,
      signal: extra.signal,
      ...(onOutput ? { onOutput } : {}),
    });
  });

  return server;
}

interface ProgressNotification {
  method: "notifications/progress";
  params: { progressToken: ProgressToken; progress: number; message: string };
}

/**
 * Turns output chunks into `notifications/progress`: `progress` is the number of output
 * bytes so far (it only grows, as the spec requires), `message` the chunk's text prefixed
 * by its stream name when it is stderr.
 */
function progressReporter(
  progressToken: ProgressToken,
  send: (n: ProgressNotification) => Promise<void>,
): (chunk: OutputChunk) => void {
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  let bytes = 0;
  return (chunk) => {
    bytes += chunk.data.byteLength;
    const text = decoders[chunk.stream].decode(chunk.data, { stream: true });
    if (text === "") return;
    const message = chunk.stream === "stderr" ? `[stderr] ${text}` : text;
    // A late chunk after the response closed the stream has nowhere to go; dropping it is right.
    send({ method: "notifications/progress", params: { progressToken, progress: bytes, message } }).catch(() => {});
  };
}
