import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import { ErrorDetailSchema } from "@onlyboxes/proto/exec";
import type { AuthAccount } from "../app-env.ts";
import type { Env } from "../env.ts";
import { AppError, type ErrorCode } from "../lib/errors.ts";

/** What the route hands each call: the bindings and the signed-in account. */
export interface CallScope {
  env: Env;
  account: AuthAccount;
  /**
   * Keeps the request alive for `work` after its client went away, so a canceled run
   * still reaches its worker (the runtime drops a disconnected request's other work).
   */
  waitUntil: (work: Promise<unknown>) => void;
}

/**
 * The scope of an authenticated call, or why the caller was refused. A refusal travels
 * to the handler so the client gets it as a Connect error with its message (a streaming
 * client reads only the HTTP status of a non-200 answer).
 */
export type CallAuth = { ok: true; scope: CallScope } | { ok: false; error: AppError };

/** Context key the route sets on every call. */
export const callScopeKey = createContextKey<CallAuth>(
  { ok: false, error: new AppError("internal", "the call has no scope") },
  { description: "onlyboxes call scope" },
);

/** The scope of the call, or the refusal the route found, as the Connect error the client gets. */
export function scopeOf(ctx: HandlerContext): CallScope {
  const auth = ctx.values.get(callScopeKey);
  if (!auth.ok) throw toConnectError(auth.error);
  return auth.scope;
}

/** Runs a validation, turning its AppError into the Connect error the client sees. */
export function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toConnectError(err);
  }
}

/** Awaits `work`, turning its failure into the Connect error the client sees. */
export async function guarded<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw toConnectError(err);
  }
}

/** The Connect code closest to each HTTP status of the registry (anything else is Internal). */
const CODE_BY_STATUS: Readonly<Record<number, Code>> = {
  400: Code.InvalidArgument,
  415: Code.InvalidArgument,
  401: Code.Unauthenticated,
  403: Code.PermissionDenied,
  404: Code.NotFound,
  410: Code.NotFound,
  405: Code.Unimplemented,
  413: Code.ResourceExhausted,
  429: Code.ResourceExhausted,
  507: Code.ResourceExhausted,
  426: Code.FailedPrecondition,
  502: Code.Unavailable,
  503: Code.Unavailable,
  504: Code.DeadlineExceeded,
};

/** The Connect code of a registry error; the exact Onlyboxes code travels in the error's ErrorDetail. */
function connectCode(code: ErrorCode, status: number): Code {
  if (code === "canceled") return Code.Canceled;
  if (code === "session_busy" || code === "conflict") return Code.Aborted;
  return CODE_BY_STATUS[status] ?? Code.Internal;
}

/** Turns anything caught into a ConnectError carrying the registry's code (internal errors say no more than that). */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const e = AppError.from(err);
  const message = e.code === "internal" ? "internal error" : e.message;
  return new ConnectError(message, connectCode(e.code, e.status), undefined, [
    { desc: ErrorDetailSchema, value: { code: e.code } },
  ]);
}
