import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { getDb } from "../db/client.ts";
import { findTokenAccount } from "../db/tokens.ts";
import { getConfig } from "../lib/config.ts";
import { hmacHex } from "../lib/crypto.ts";
import { cachedToken, rememberToken } from "../lib/token-cache.ts";
import { errorResponse } from "./error-handler.ts";

const CHALLENGE = { "WWW-Authenticate": 'Bearer realm="onlyboxes"' };

/**
 * Requires `Authorization: Bearer <token>` naming an existing access token and sets
 * `c.var.account` (the token's owner) and `c.var.tokenId`. Missing, malformed or unknown
 * token → 401 `{error}`; with no tokens configured at all every request is refused.
 */
export function requireBearer(): MiddlewareHandler<AppEnv> {
  return async function requireBearerMiddleware(c, next) {
    const header = c.req.header("authorization");
    if (!header) return errorResponse(c, "unauthenticated", "missing bearer token", CHALLENGE);
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    const token = m?.[1];
    if (token === undefined)
      return errorResponse(c, "unauthenticated", "authorization header must be 'Bearer <token>'", CHALLENGE);
    const tokenHash = await hmacHex(getConfig(c.env).hashKey, token);
    let found = cachedToken(tokenHash);
    if (!found) {
      found = await findTokenAccount(getDb(c.env), tokenHash);
      if (!found) return errorResponse(c, "unauthenticated", "invalid token", CHALLENGE);
      rememberToken(tokenHash, found.account, found.tokenId);
    }
    c.set("account", found.account);
    c.set("tokenId", found.tokenId);
    await next();
    return undefined;
  };
}
