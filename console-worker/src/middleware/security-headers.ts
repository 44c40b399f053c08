import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../app-env.ts";

/**
 * The dashboard's Content-Security-Policy: only this origin's own scripts, styles and
 * API; no framing by anyone (clickjacking); no `<base>` or plugin tricks. Image `data:`
 * URLs are the favicon and the readImage previews.
 */
const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", "data:"],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/**
 * Security headers on every response except the worker wire's WebSocket upgrade (a 101
 * handed back by a Durable Object, whose headers cannot change): CSP with
 * `frame-ancestors 'none'`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`,
 * `nosniff` and Hono's other defaults. HSTS is left to the operator's TLS proxy: sent from
 * here it would pin every subdomain of their domain to https.
 */
export function securityHeaders(): MiddlewareHandler<AppEnv> {
  const apply = secureHeaders({
    contentSecurityPolicy: CONTENT_SECURITY_POLICY,
    referrerPolicy: "no-referrer",
    xFrameOptions: "DENY",
    strictTransportSecurity: false,
  });
  return async function securityHeadersMiddleware(c, next) {
    if (c.req.path.startsWith("/rpc/")) {
      await next();
      return;
    }
    await apply(c, next);
  };
}
