import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { getConfig } from "../lib/config.ts";

/** A host a DNS answer cannot stand in for: an IP literal or localhost. */
function isAddressLiteral(hostname: string): boolean {
  return hostname === "localhost" || hostname.startsWith("[") || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * The origins whose browser pages may call the MCP endpoint: CONSOLE_PUBLIC_URL's,
 * CONSOLE_ALLOWED_ORIGINS, and the console's own origin when it is addressed by IP or as
 * localhost. An own origin under a DNS name is not trusted from the request: a
 * DNS-rebinding page at `http://evil.example:8089` sends `Host: evil.example:8089` too, so
 * only the configured public URL can vouch for a name.
 */
export function allowedMcpOrigins(c: Context<AppEnv>): string[] {
  const config = getConfig(c.env);
  const allowed = [...config.allowedOrigins];
  if (config.publicUrl !== undefined) allowed.push(new URL(config.publicUrl).origin);
  const own = new URL(c.req.url);
  if (isAddressLiteral(own.hostname)) allowed.push(own.origin);
  return allowed;
}

export interface McpOriginOptions {
  /** Builds the refusal body (the MCP endpoint answers in JSON-RPC). */
  refuse: (c: Context<AppEnv>, origin: string) => Response;
}

/** `Origin` in URL.origin's spelling (lower case, default port dropped); "null" stays itself and matches nothing. */
function normalise(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin;
  }
}

/**
 * Refuses a request whose `Origin` is not allowed (see {@link allowedMcpOrigins}) before it
 * is authenticated or its body read, as the MCP transport spec asks of servers. Requests
 * without `Origin` come from non-browser clients and pass.
 */
export function requireMcpOrigin(opts: McpOriginOptions): MiddlewareHandler<AppEnv> {
  return async function requireMcpOriginMiddleware(c, next) {
    const origin = c.req.header("origin");
    if (origin !== undefined && !allowedMcpOrigins(c).includes(normalise(origin))) return opts.refuse(c, origin);
    await next();
    return undefined;
  };
}
