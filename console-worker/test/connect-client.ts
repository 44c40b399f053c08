import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { type Client, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createFetchClient } from "@connectrpc/connect/protocol";
import { createTransport } from "@connectrpc/connect/protocol-connect";
import { ExecService } from "@onlyboxes/proto/exec";
import type { Env } from "../src/env.ts";
import worker from "../src/index.ts";
import { ORIGIN } from "./helpers.ts";

function withHeaders(headers: Record<string, string>): Interceptor {
  return (next) => (req) => {
    for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
    return next(req);
  };
}

/**
 * Sends a request to the app, with `overrides` replacing env values when given. Then the
 * whole answer is read before the call's background work is awaited: the route writes
 * the body from that work (routes/connect.ts), so it only ends once the body is read.
 */
async function send(input: RequestInfo | URL, init: RequestInit | undefined, overrides?: Partial<Env>): Promise<Response> {
  const req = new Request(input, init);
  if (overrides === undefined) return SELF.fetch(req);
  const ctx = createExecutionContext();
  const res = await worker.fetch(req, { ...env, ...overrides }, ctx);
  const body = await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return new Response(body, res);
}

/**
 * A Connect client of the console's ExecService under test, speaking JSON or binary with
 * `headers` on every call (a bearer token, or a cookie and origin headers).
 */
export function execClient(
  headers: Record<string, string>,
  opts: { binary?: boolean; env?: Partial<Env> } = {},
): Client<typeof ExecService> {
  const transport = createTransport({
    httpClient: createFetchClient((input, init) => send(input, init, opts.env)),
    baseUrl: `${ORIGIN}/api/connect`,
    useBinaryFormat: opts.binary ?? false,
    interceptors: [withHeaders(headers)],
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: 0,
    readMaxBytes: 64 * 1024 * 1024,
    writeMaxBytes: 64 * 1024 * 1024,
  });
  return createClient(ExecService, transport);
}

/** The Connect error a call failed with (a call that succeeds fails the test). */
export async function failureOf(work: Promise<unknown>): Promise<ConnectError> {
  try {
    await work;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}
