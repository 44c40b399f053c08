import { createConnectRouter, createContextValues } from "@connectrpc/connect";
import { universalServerRequestFromFetch, universalServerResponseToFetch } from "@connectrpc/connect/protocol";
import type { ErrorBody } from "@onlyboxes/proto";
import { ExecService } from "@onlyboxes/proto/exec";
import { type Context, Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { type CallAuth, callScopeKey } from "../connect/call-scope.ts";
import { execService } from "../connect/exec-service.ts";
import { WRITE_FILE_READ_MAX_BYTES } from "../connect/session-file-methods.ts";
import { getConfig } from "../lib/config.ts";
import { AppError, isErrorCode } from "../lib/errors.ts";
import { MAX_JSON_BODY_BYTES } from "../lib/validate.ts";
import { requireBearer } from "../middleware/bearer.ts";
import { errorResponse } from "../middleware/error-handler.ts";
import { requireSession } from "../middleware/session.ts";

/** Where the Connect services are mounted: a client's base URL is `<console>/api/connect`. */
export const CONNECT_PREFIX = "/api/connect";

// Built once per isolate; each call gets its bindings and account through context values.
const options = { grpc: false, grpcWeb: false, readMaxBytes: MAX_JSON_BODY_BYTES };
const router = createConnectRouter(options).service(ExecService, execService);
// WriteFile carries a whole file: its own read limit, and its handler replaces the default one.
const uploads = createConnectRouter({ ...options, readMaxBytes: WRITE_FILE_READ_MAX_BYTES }).rpc(
  ExecService.method.writeFile,
  execService.writeFile,
);
const handlers = new Map([...router.handlers, ...uploads.handlers].map((h) => [h.requestPath, h]));

/** True for a WriteFile call, whose body is limited by its own read limit instead of the JSON one. */
export function isConnectUpload(method: string, pathname: string): boolean {
  return method === "POST" && pathname === `${CONNECT_PREFIX}/${ExecService.typeName}/${ExecService.method.writeFile.name}`;
}

/**
 * Authenticates with the bearer token, or else the dashboard's session cookie, and
 * answers the account or why it was refused. A cookie rides along on any request the
 * browser makes, so that path also requires what a cross-site page cannot send without a
 * CORS preflight (which is never granted): the `Connect-Protocol-Version` header, and a
 * same-origin `Sec-Fetch-Site` / `Origin` when the browser sends them. A cross-site call
 * is refused outright (null); other refusals go to the client as Connect errors.
 */
async function authenticate(c: Context<AppEnv>): Promise<CallAuth | null> {
  const bearerCall = c.req.header("authorization") !== undefined;
  if (!bearerCall && (!sameOrigin(c) || c.req.header("connect-protocol-version") === undefined)) return null;
  let passed = false;
  const refused = await (bearerCall ? bearer : session)(c, async () => {
    passed = true;
  });
  if (passed) {
    const scope = {
      env: c.env,
      account: c.var.account,
      waitUntil: (work: Promise<unknown>) => c.executionCtx.waitUntil(work),
    };
    return { ok: true, scope };
  }
  const body = refused ? ((await refused.json().catch(() => ({}))) as Partial<ErrorBody>) : {};
  const code = body.code !== undefined && isErrorCode(body.code) ? body.code : "unauthenticated";
  return { ok: false, error: new AppError(code, body.error ?? "not authenticated") };
}

const bearer = requireBearer();
const session = requireSession();

function sameOrigin(c: Context<AppEnv>): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin") return false;
  const origin = c.req.header("origin");
  if (origin === undefined) return true;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false;
  }
  const allowed = [new URL(c.req.url).host];
  const forwardedHost = c.req.header("x-forwarded-host")?.split(",")[0]?.trim();
  if (forwardedHost) allowed.push(forwardedHost);
  const publicUrl = getConfig(c.env).publicUrl;
  if (publicUrl !== undefined) allowed.push(new URL(publicUrl).host);
  return allowed.includes(host);
}

/**
 * Serves the Connect services (`onlyboxes.api.v1.ExecService`) with the Connect protocol
 * only (JSON and binary, over HTTP/1.1). The handler's signal fires when the client goes
 * away, so closing a stream cancels the run. workerd reports a disconnect on the request's
 * signal only some of the time: when it finds out by a failed write to the socket, it just
 * stops reading the body. So the body goes out through a native stream, whose writes fail
 * once the connection is gone, and a failed write counts as the client leaving too.
 */
export const connectRoutes = new Hono<AppEnv>().all("/*", async (c) => {
  const path = new URL(c.req.url).pathname.slice(CONNECT_PREFIX.length);
  const handler = handlers.get(path);
  if (!handler) throw new AppError("not_found", "not found");
  const auth = await authenticate(c);
  if (auth === null) return errorResponse(c, "forbidden_origin", "cross-site request refused");
  const gone = new AbortController();
  const raw = c.req.raw;
  // With the enable_request_signal flag workerd aborts this when it notices the client left.
  raw.signal.addEventListener("abort", () => gone.abort(raw.signal.reason), { once: true });
  const request = {
    ...universalServerRequestFromFetch(raw, { httpVersion: "1.1" }),
    signal: gone.signal,
    contextValues: createContextValues().set(callScopeKey, auth),
  };
  const response = universalServerResponseToFetch(await handler(request));
  const body = response.body;
  if (body === null) return response;
  const pipe = new IdentityTransformStream();
  c.executionCtx.waitUntil(forward(body, pipe.writable, gone));
  return new Response(pipe.readable, response);
});

/** Copies the handler's answer to the client; when a write fails, the client is gone: abort the call. */
async function forward(from: ReadableStream<Uint8Array>, to: WritableStream<Uint8Array>, gone: AbortController): Promise<void> {
  const reader = from.getReader();
  const writer = to.getWriter();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await writer.write(value);
    }
    await writer.close();
  } catch (err) {
    gone.abort(err);
    await Promise.allSettled([reader.cancel(err), writer.abort(err)]);
  }
}
