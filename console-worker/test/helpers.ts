/**
 * Shared helpers for the console's workerd tests: call the real app, sign in, create
 * accounts, tokens and workers. Every test file gets a fresh D1 database (migrated by
 * test/setup.ts) but tests inside one file share it, so helpers make unique names.
 *
 * Typical use:
 *   const admin = await signInAdmin();
 *   const user = await createAccount(admin);            // a fresh non-admin, signed in
 *   const { token } = await createToken(user.cookie);   // its bearer token
 *   const res = await call("/api/v1/commands/echo", { method: "POST", bearer: token, body: { message: "hi" } });
 */
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import type { Env } from "../src/env.ts";
import worker from "../src/index.ts";

/** The origin test requests are sent to (https, so cookies carry `Secure`). */
export const ORIGIN = "https://console.test";

export interface CallOptions {
  method?: string;
  /**
   * Sent as JSON with `content-type: application/json`. A string, stream or byte buffer is
   * sent verbatim (set the content type yourself).
   */
  body?: unknown;
  /** A `Cookie` header value, e.g. from {@link signIn}. */
  cookie?: string;
  /** Sent as `Authorization: Bearer <bearer>`. */
  bearer?: string;
  headers?: Record<string, string>;
  /**
   * Run the request against the app with these env values replaced (e.g.
   * `{ CONSOLE_ENABLE_REGISTRATION: "false" }`) instead of through SELF. Same D1 and
   * Durable Objects; only variables differ. `undefined` removes a variable.
   */
  env?: Partial<Env>;
}

/** Builds the Request {@link call} sends. `path` is relative to {@link ORIGIN} (or absolute). */
export function buildRequest(path: string, opts: CallOptions = {}): Request {
  const headers = new Headers(opts.headers);
  let body: BodyInit | undefined;
  if (opts.body !== undefined) {
    const raw = opts.body;
    if (typeof raw === "string" || raw instanceof ReadableStream || raw instanceof ArrayBuffer || ArrayBuffer.isView(raw)) {
      body = raw;
    } else {
      body = JSON.stringify(opts.body);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
    }
  }
  if (opts.cookie !== undefined) headers.set("cookie", opts.cookie);
  if (opts.bearer !== undefined) headers.set("authorization", `Bearer ${opts.bearer}`);
  return new Request(new URL(path, ORIGIN), { method: opts.method ?? (body === undefined ? "GET" : "POST"), headers, body });
}

/** Sends a request to the console app running in workerd and returns the raw Response. */
export async function call(path: string, opts: CallOptions = {}): Promise<Response> {
  const req = buildRequest(path, opts);
  if (opts.env === undefined) return SELF.fetch(req);
  const ctx = createExecutionContext();
  const res = await worker.fetch(req, { ...env, ...opts.env }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** A decoded JSON response: the status and the body (undefined when the body is empty). */
export interface JsonResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** Like {@link call}, then reads the body as JSON (any shape; cast with the type parameter). */
export async function callJson<T = Record<string, unknown>>(path: string, opts: CallOptions = {}): Promise<JsonResponse<T>> {
  const res = await call(path, opts);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

/** The first admin's credentials, as configured in vitest.config.ts. */
export function adminCredentials(): { username: string; password: string } {
  const { CONSOLE_DASHBOARD_USERNAME: username, CONSOLE_DASHBOARD_PASSWORD: password } = env;
  if (!username || !password) throw new Error("vitest.config.ts must set CONSOLE_DASHBOARD_USERNAME/PASSWORD");
  return { username, password };
}

/** The `name=value` pair of the session cookie in a response, ready for a `Cookie` header. */
export function sessionCookieFrom(res: Response): string | undefined {
  for (const line of res.headers.getSetCookie()) {
    const pair = line.split(";")[0] ?? "";
    if (pair.startsWith("onlyboxes_console_session=")) return pair;
  }
  return undefined;
}

/** Signs in and returns the `Cookie` header value; throws (with the response body) on failure. */
export async function signIn(username: string, password: string): Promise<string> {
  const res = await call("/api/v1/console/login", { method: "POST", body: { username, password } });
  if (res.status !== 200) throw new Error(`sign-in as ${username} failed: ${res.status} ${await res.text()}`);
  const cookie = sessionCookieFrom(res);
  if (!cookie) throw new Error("sign-in answered 200 without a session cookie");
  return cookie;
}

/** Signs in as the first admin (created on the first console request) and returns its cookie. */
export function signInAdmin(): Promise<string> {
  const { username, password } = adminCredentials();
  return signIn(username, password);
}

let counter = 0;
/** A name unique within this test file, e.g. `user-3-k2j9`. */
export function uniqueName(prefix = "name"): string {
  counter += 1;
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 6)}`;
}

export interface TestAccount {
  accountId: string;
  username: string;
  password: string;
  /** Cookie header value of a signed-in session for this account. */
  cookie: string;
}

/**
 * Registers a fresh non-admin account through the admin (registration is enabled in the
 * test config) and signs it in. Accounts are how tests keep each other's tasks, sessions
 * and tokens apart.
 */
export async function createAccount(
  adminCookie: string,
  username = uniqueName("user"),
  password = `pw-${uniqueName()}`,
): Promise<TestAccount> {
  const res = await callJson<{ account: { account_id: string } }>("/api/v1/console/register", {
    method: "POST",
    cookie: adminCookie,
    body: { username, password },
  });
  if (res.status !== 201) throw new Error(`register ${username} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { accountId: res.body.account.account_id, username, password, cookie: await signIn(username, password) };
}

/** What POST /api/v1/console/tokens answers (the plain `token` is shown only here). */
export interface CreatedToken {
  id: string;
  name: string;
  token: string;
  token_masked: string;
  generated: boolean;
  created_at: string;
  updated_at: string;
}

/** Creates an access token for the signed-in account; `token` sets the value, else one is generated. */
export async function createToken(cookie: string, name = uniqueName("token"), token?: string): Promise<CreatedToken> {
  const res = await callJson<CreatedToken>("/api/v1/console/tokens", {
    method: "POST",
    cookie,
    body: token === undefined ? { name } : { name, token },
  });
  if (res.status !== 201) throw new Error(`create token failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/**
 * One call for bearer-route tests: a fresh account with one access token.
 * Returns the account (with its cookie) and the plain token.
 */
export async function newAccountWithToken(): Promise<TestAccount & { token: string; tokenId: string }> {
  const account = await createAccount(await signInAdmin());
  const created = await createToken(account.cookie);
  return { ...account, token: created.token, tokenId: created.id };
}

export interface CreatedWorker {
  nodeId: string;
  secret: string;
  /** The startup command as the API returned it. */
  command: string;
}

/** Registers a worker through the admin API and pulls the id and secret out of the startup command. */
export async function createWorker(adminCookie: string): Promise<CreatedWorker> {
  const res = await callJson<{ node_id: string; command: string }>("/api/v1/workers", { method: "POST", cookie: adminCookie });
  if (res.status !== 201) throw new Error(`create worker failed: ${res.status} ${JSON.stringify(res.body)}`);
  const secret = /WORKER_SECRET=(\S+)/.exec(res.body.command)?.[1];
  if (!secret) throw new Error(`no WORKER_SECRET in command: ${res.body.command}`);
  return { nodeId: res.body.node_id, secret, command: res.body.command };
}

/**
 * Polls `check` every 20 ms until it answers a truthy value and answers that value; fails
 * after `ms`. Tests wait on what they can observe, never on a fixed sleep.
 */
export async function waitFor<T>(
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  ms = 5000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `POST /api/v1/commands/echo` as the bearer of `token`. */
export function postEcho<T = { message?: string; error?: string; code?: string }>(
  token: string,
  body: { message: string; timeout_ms?: number },
): Promise<JsonResponse<T>> {
  return callJson<T>("/api/v1/commands/echo", { method: "POST", bearer: token, body });
}

/**
 * A request body of `total` spaces in 64 KiB chunks with no length, counting what the
 * server pulled: a body limit must answer without reading it all.
 */
export function countingBody(total: number): { stream: ReadableStream<Uint8Array>; pulled(): number } {
  const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) {
        controller.close();
        return;
      }
      controller.enqueue(chunk);
      sent += chunk.length;
    },
  });
  return { stream, pulled: () => sent };
}

/** Waits `ms` (for pacing what a test sends; wait for a condition with `waitFor`). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
