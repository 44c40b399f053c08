import { codeForStatus, type ErrorBody } from "@onlyboxes/proto";
import type { Context, ErrorHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "../app-env.ts";
import { AppError, ERROR_STATUS, type ErrorCode } from "../lib/errors.ts";

export type { ErrorBody } from "@onlyboxes/proto";

/** Answers `code` with its registry status and `{ "error": message, "code": code }`. */
export function errorResponse(c: Context, code: ErrorCode, message: string, headers?: Record<string, string>): Response {
  const body: ErrorBody = { error: message, code };
  return c.json(body, ERROR_STATUS[code] as ContentfulStatusCode, headers);
}

/**
 * A loggable summary of an error and its causes. Query errors from drizzle carry the bound
 * parameters (password hashes, token hashes) in their message, so everything from
 * "params:" on is cut; request bodies and headers are never logged.
 */
export function describeErrorForLog(err: unknown): { name: string; message: string; causes?: string[] } {
  const clean = (m: string): string => m.split("\nparams:")[0] ?? "";
  if (!(err instanceof Error)) return { name: typeof err, message: clean(String(err)) };
  const causes: string[] = [];
  let cur: unknown = err.cause;
  for (let i = 0; cur !== undefined && cur !== null && i < 4; i++) {
    causes.push(cur instanceof Error ? `${cur.name}: ${clean(cur.message)}` : clean(String(cur)));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return { name: err.name, message: clean(err.message), ...(causes.length > 0 ? { causes } : {}) };
}

/**
 * Maps whatever a handler throws to `{ "error": message, "code": code }`: an AppError to
 * its registry status, a Hono HTTPException (library middleware) to its status and the
 * registry's code for it, anything else to a 500 "internal error" with one structured log
 * line (the client never sees internals).
 */
export const errorHandler: ErrorHandler<AppEnv> = (err, c) => {
  if (err instanceof HTTPException) {
    const body: ErrorBody = { error: err.message || "request failed", code: codeForStatus(err.status) };
    // Keep what the library put on its own answer (e.g. bearerAuth's WWW-Authenticate).
    const headers: Record<string, string> = {};
    err.res?.headers.forEach((value, name) => {
      if (name !== "content-type" && name !== "content-length") headers[name] = value;
    });
    return c.json(body, err.status, headers);
  }
  const appErr = AppError.from(err);
  // Only internal failures are logged here: 502/503/504 (no worker, timeouts) are normal
  // operating conditions the client is told about, and would drown real errors.
  if (appErr.status === 500) {
    console.error(
      JSON.stringify({
        level: "error",
        msg: appErr.code === "internal" && appErr.message === "internal error" ? "unhandled error" : appErr.message,
        code: appErr.code,
        method: c.req.method,
        path: c.req.path,
        requestId: c.get("requestId"),
        error: describeErrorForLog(err),
      }),
    );
  }
  return errorResponse(c, appErr.code, appErr.message);
};
