import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../app-env.ts";
import { getDb } from "../db/client.ts";
import { findSessionAccount } from "../db/dashboard-sessions.ts";
import { getConfig } from "../lib/config.ts";
import { hmacHex } from "../lib/crypto.ts";
import { errorResponse } from "./error-handler.ts";

/** Name of the dashboard session cookie (part of the public contract). */
export const SESSION_COOKIE = "onlyboxes_console_session";
/** Dashboard sessions last 12 hours. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/**
 * True when the browser talks https to us, also behind a TLS-terminating proxy that says
 * so in X-Forwarded-Proto. (A client faking that header only gets a cookie its own
 * browser will not send over plain http.)
 */
function isHttps(c: Context): boolean {
  if (new URL(c.req.url).protocol === "https:") return true;
  return c.req.header("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase() === "https";
}

/** Sets the session cookie: HttpOnly, SameSite=Lax, Secure on https, 12 h, whole site. */
export function setSessionCookie(c: Context, sessionId: string): void {
  setCookie(c, SESSION_COOKIE, sessionId, {
    path: "/",
    httpOnly: true,
    sameSite: "Lax",
    secure: isHttps(c),
    maxAge: SESSION_TTL_MS / 1000,
  });
}

/** Tells the browser to forget the session cookie. */
export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", httpOnly: true, sameSite: "Lax", secure: isHttps(c) });
}

/** The HMAC of the session id in the request's cookie (what the table stores), if any. */
export async function sessionIdHash(c: Context<AppEnv>): Promise<string | undefined> {
  const id = getCookie(c, SESSION_COOKIE);
  if (!id) return undefined;
  return hmacHex(getConfig(c.env).hashKey, id);
}

export interface RequireSessionOptions {
  /** Only admin accounts pass; others get 403. */
  admin?: boolean;
}

/**
 * Requires a signed-in dashboard session (cookie `onlyboxes_console_session`) and sets
 * `c.var.account`. No or expired session → 401; `admin: true` and not an admin → 403.
 */
export function requireSession(opts: RequireSessionOptions = {}): MiddlewareHandler<AppEnv> {
  const adminOnly = opts.admin ?? false;
  return async function requireSessionMiddleware(c, next) {
    const idHash = await sessionIdHash(c);
    const account = idHash ? await findSessionAccount(getDb(c.env), idHash, Date.now()) : undefined;
    if (!account) return errorResponse(c, "unauthenticated", "not signed in");
    if (adminOnly && !account.isAdmin) return errorResponse(c, "forbidden", "admin privileges required");
    c.set("account", account);
    await next();
    return undefined;
  };
}
