import { type CallToolResult, McpError, SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import type { Env } from "../env.ts";
import { TOOLS } from "./tools.ts";

/** A JSON-RPC id as MCP allows it. */
type RequestId = string | number;

/** One tools/call request in its plainest form, ready to run. */
export interface PlainToolCall {
  id: RequestId;
  run(ctx: { env: Env; accountId: string }): Promise<CallToolResult>;
}

/** The JSON-RPC answer to a plain tools/call: its result, or the error `prepare` threw. */
export type PlainToolAnswer =
  | { jsonrpc: "2.0"; id: RequestId; result: CallToolResult }
  | { jsonrpc: "2.0"; id: RequestId; error: { code: number; message: string; data?: unknown } };

const PARAM_KEYS = new Set(["name", "arguments", "_meta"]);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Recognises the one request shape agents send most: a single `tools/call` of a known
 * tool, answered as plain JSON (no progress asked for), with headers the SDK's transport
 * accepts. That shape is answered here, with the same tool definitions and the same
 * argument validation; anything else (null here) goes to the SDK's server and transport,
 * which answer it and every error of the protocol. The SDK's own request and result
 * schema checks cost more workerd CPU than the rest of an echo call together (1.4 ms a
 * call), and tools/call is the hot path: `test/mcp.test.ts` holds the two answers equal.
 */
export function plainToolCall(req: Request, body: unknown, streaming: boolean): PlainToolCall | null {
  if (streaming || !isPlainObject(body)) return null;
  const { jsonrpc, id, method, params } = body;
  if (jsonrpc !== "2.0" || method !== "tools/call" || Object.keys(body).length !== 4) return null;
  if (!(typeof id === "string" || (typeof id === "number" && Number.isSafeInteger(id)))) return null;
  if (!isPlainObject(params) || typeof params.name !== "string") return null;
  if (!Object.keys(params).every((k) => PARAM_KEYS.has(k))) return null;
  if (params.arguments !== undefined && !isPlainObject(params.arguments)) return null;
  if (params._meta !== undefined && !isPlainObject(params._meta)) return null;
  const tool = TOOLS.get(params.name);
  if (!tool) return null;
  const accept = req.headers.get("accept") ?? "";
  if (!accept.includes("application/json") || !accept.includes("text/event-stream")) return null;
  if (!/^application\/json\b/i.test(req.headers.get("content-type") ?? "")) return null;
  const version = req.headers.get("mcp-protocol-version");
  if (version !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return null;
  const args = params.arguments;
  return {
    id,
    run: ({ env, accountId }) => tool.prepare(args)({ env, accountId, signal: new AbortController().signal }),
  };
}

/** Runs a plain tools/call and answers it as the SDK's server would: a result, or the JSON-RPC error of an invalid call. */
export async function answerPlainToolCall(call: PlainToolCall, ctx: { env: Env; accountId: string }): Promise<PlainToolAnswer> {
  try {
    return { jsonrpc: "2.0", id: call.id, result: await call.run(ctx) };
  } catch (err) {
    if (!(err instanceof McpError)) throw err;
    return {
      jsonrpc: "2.0",
      id: call.id,
      error: { code: err.code, message: err.message, ...(err.data !== undefined ? { data: err.data } : {}) },
    };
  }
}
