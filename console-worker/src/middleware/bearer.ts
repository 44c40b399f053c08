import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { getDb } from "../db/client.ts";
import { findTokenAccount } from "../db/tokens.ts";
import { checkBearerAddress, clientAddress, recordBearerFailure, tooManyAttempts } from "../lib/auth-throttle.ts";
import { getConfig } from "../lib/config.ts";
import { hmacHex } from "../lib/crypto.ts";
import { cachedToken, rememberToken } from "../lib/token-cache.ts";
import { errorResponse } from "./error-handler.ts";

const CHALLENGE = { "WWW-Authenticate": 'Bearer realm="onlyboxes"' };
const TOO_MANY = "too many failed authentications from this address";

/**
 * Requires `Authorization: Bearer <token>` naming an existing access token and sets
 * `c.var.account` (the token's owner) and `c.var.tokenId`. Missing, malformed or unknown
 * token → 401 `{error}`; with no tokens configured at all every request is refused.
 * Unknown tokens count as failures of the client address: past the limit (shared with
 * failed sign-ins) the address gets 429 with `Retry-After`, whether or not its next token
 * is right. A token seen valid within the last seconds skips that check (it was no guess).
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
      const address = clientAddress(c);
      const [verdict, row] = await Promise.all([checkBearerAddress(c.env, address), findTokenAccount(getDb(c.env), tokenHash)]);
      if (!verdict.allowed) return tooManyAttempts(c, verdict.retryAfterMs, TOO_MANY);
      if (!row) {
        const after = await recordBearerFailure(c.env, address);
        if (!after.allowed) return tooManyAttempts(c, after.retryAfterMs, TOO_MANY);
        return errorResponse(c, "unauthenticated", "invalid token", CHALLENGE);
      }
      found = row;
      rememberToken(tokenHash, found.account, found.tokenId);
    }
    c.set("account", found.account);
    c.set("tokenId", found.tokenId);
    await next();
    return undefined;
  };
}
