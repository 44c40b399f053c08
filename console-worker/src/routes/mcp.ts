import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { DEFAULT_CONSOLE_VERSION } from "../lib/config.ts";
import { AppError } from "../lib/errors.ts";
import { readBody } from "../lib/validate.ts";
import { answerPlainToolCall, plainToolCall } from "../mcp/plain-tool-call.ts";
import { createMcpServer } from "../mcp/server.ts";
import { STREAMING_TOOLS } from "../mcp/tools.ts";
import { requireBearer } from "../middleware/bearer.ts";
import { errorResponse } from "../middleware/error-handler.ts";
import { requireMcpOrigin } from "../middleware/mcp-origin.ts";

/** Largest MCP request accepted (the SDK transport's own default). */
const MAX_MCP_BODY_BYTES = 4 * 1024 * 1024;

function jsonRpcError(code: number, message: string): { jsonrpc: "2.0"; error: { code: number; message: string }; id: null } {
  return { jsonrpc: "2.0", error: { code, message }, id: null };
}

/**
 * True when the request calls a tool that streams output and carries a progressToken: only
 * then is the answer an SSE stream (so progress notifications can be sent); everything
 * else is answered with plain JSON, which is cheaper.
 */
function wantsProgress(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m: unknown) => {
    if (typeof m !== "object" || m === null) return false;
    const msg = m as { method?: unknown; params?: { name?: unknown; _meta?: { progressToken?: unknown } } };
    return (
      msg.method === "tools/call" &&
      typeof msg.params?.name === "string" &&
      STREAMING_TOOLS.has(msg.params.name) &&
      msg.params._meta?.progressToken !== undefined
    );
  });
}

/**
 * The MCP endpoint (Streamable HTTP, stateless, bearer auth): a plain tools/call is
 * answered directly (see ../mcp/plain-tool-call.ts); every other POST gets a fresh
 * server and transport. GET (a server-to-client stream) and DELETE (ending a session)
 * have no meaning without sessions, so they answer 405.
 */
export const mcpRoutes = new Hono<AppEnv>()
  .use(
    requireMcpOrigin({
      refuse: (c, origin) => c.json(jsonRpcError(-32000, `Origin ${origin} may not call this MCP endpoint`), 403),
    }),
  )
  .on(["GET", "DELETE", "PUT", "PATCH"], "/", (c) =>
    errorResponse(c, "method_not_allowed", "method not allowed: the MCP endpoint is stateless; send requests with POST", {
      Allow: "POST",
    }),
  )
  .post("/", requireBearer(), async (c) => {
    // A streamed (chunked) body is counted as it arrives and reading stops at the limit.
    let raw: Uint8Array;
    try {
      raw = await readBody(c.req.raw, MAX_MCP_BODY_BYTES);
    } catch (err) {
      if (err instanceof AppError && err.code === "payload_too_large") return c.json(jsonRpcError(-32600, err.message), 413);
      throw err;
    }
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      return c.json(jsonRpcError(-32700, "Parse error: Invalid JSON"), 400);
    }

    const streaming = wantsProgress(body);
    const accountId = c.var.account.accountId;
    const plain = plainToolCall(c.req.raw, body, streaming);
    if (plain) return c.json(await answerPlainToolCall(plain, { env: c.env, accountId }), 200);
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: !streaming,
    });
    const server = createMcpServer({
      env: c.env,
      accountId,
      version: c.env.CONSOLE_VERSION?.trim() || DEFAULT_CONSOLE_VERSION,
      streaming,
    });
    await server.connect(transport);
    // Nothing outlives the answer: a JSON answer is complete when this resolves, an SSE
    // answer ends its stream after the last response, and both objects are then garbage.
    return transport.handleRequest(c.req.raw, { parsedBody: body });
  });
