import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { getConfig } from "../lib/config.ts";
import { errorResponse } from "./error-handler.ts";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/**
 * Guards cookie-authenticated routes against cross-site requests. For state-changing
 * methods: a browser's `Sec-Fetch-Site` must be `same-origin` (or `none`, typed by the
 * user), and an `Origin` header must name this console (request host, X-Forwarded-Host,
 * or CONSOLE_PUBLIC_URL). Requests with neither header come from non-browser clients
 * and pass. A body must be `application/json`: a cross-site form cannot send that without a
 * CORS preflight, which we never grant. Refusals: 403 cross-site, 415 wrong content type.
 */
export function csrfProtection(): MiddlewareHandler<AppEnv> {
  return async function csrfProtectionMiddleware(c, next) {
    if (SAFE_METHODS.has(c.req.method)) {
      await next();
      return undefined;
    }
    const site = c.req.header("sec-fetch-site");
    const origin = c.req.header("origin");
    if (site !== undefined && site !== "same-origin" && site !== "none") {
      return errorResponse(c, "forbidden_origin", "cross-site request refused");
    }
    if (origin !== undefined) {
      const host = hostOf(origin);
      const allowed = [new URL(c.req.url).host];
      // A reverse proxy may rewrite Host; a cross-site page cannot add this header
      // without a CORS preflight, so trusting it here opens nothing.
      const forwardedHost = c.req.header("x-forwarded-host")?.split(",")[0]?.trim();
      if (forwardedHost) allowed.push(forwardedHost);
      const publicUrl = getConfig(c.env).publicUrl;
      if (publicUrl !== undefined) allowed.push(new URL(publicUrl).host);
      if (host === undefined || !allowed.includes(host)) {
        return errorResponse(c, "forbidden_origin", "cross-site request refused");
      }
    }
    const length = c.req.header("content-length");
    // Without a length the body may still be streamed (chunked), so look at the body itself.
    const hasBody = length !== undefined ? length !== "0" : c.req.raw.body !== null;
    if (hasBody) {
      const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
      if (type !== "application/json") {
        return errorResponse(c, "unsupported_media_type", "content-type must be application/json");
      }
    }
    await next();
    return undefined;
  };
}
