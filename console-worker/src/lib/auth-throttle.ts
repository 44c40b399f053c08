import type { ErrorBody } from "@onlyboxes/proto";
import type { Context } from "hono";
import { usernameKey } from "../db/accounts.ts";
import type { Env } from "../env.ts";
import { authThrottleStub, type ThrottleVerdict } from "../objects/auth-throttle.ts";
import { getConfig } from "./config.ts";

const ALLOWED: ThrottleVerdict = { allowed: true };

/**
 * The client's address as the runtime reports it: Cloudflare and Miniflare set
 * `CF-Connecting-IP` on every request; bare workerd (self-hosted) reports the socket's
 * peer as `cf.clientIp`, used when the client sent no such header (a reverse proxy in
 * front should set it).
 */
export function clientAddress(c: Context): string | undefined {
  const v = c.req.header("cf-connecting-ip")?.trim() || peerAddress(c.req.raw.cf?.clientIp);
  return v ? v.slice(0, 64) : undefined;
}

/** The host of workerd's `ip:port` or `[ip6]:port`. */
function peerAddress(clientIp: unknown): string | undefined {
  if (typeof clientIp !== "string") return undefined;
  return /^\[(.+)\]:\d+$/.exec(clientIp)?.[1] ?? /^([^:]+):\d+$/.exec(clientIp)?.[1] ?? (clientIp || undefined);
}

/** A 429 naming how long to wait, in whole seconds (at least 1). */
export function tooManyAttempts(c: Context, retryAfterMs: number, message: string): Response {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const body: ErrorBody = { error: `${message}; try again in ${seconds} s`, code: "login_throttled" };
  return c.json(body, 429, { "Retry-After": String(seconds) });
}

/** A sign-in that may go ahead; call `succeeded` once the password proved right. */
export interface AdmittedSignIn {
  allowed: true;
  succeeded(): Promise<void>;
}

/**
 * Counts one sign-in attempt against the username and the client address before the
 * password is looked at, so a throttled attempt costs no PBKDF2 and its answer cannot
 * depend on whether the password was right. Unknown usernames are counted like known ones.
 */
export async function admitSignIn(
  env: Env,
  username: string,
  address: string | undefined,
): Promise<AdmittedSignIn | { allowed: false; retryAfterMs: number }> {
  const { perUser, perAddress, windowMs } = getConfig(env).authThrottle;
  // Names longer than any account's share a bucket: none of them can sign in anyway.
  const user = authThrottleStub(env, `user:${usernameKey(username.trim()).slice(0, 128)}`);
  const ip = address === undefined ? undefined : authThrottleStub(env, `ip:${address}`);
  const [byUser, byIp] = await Promise.all([user.acquire(perUser, windowMs), ip ? ip.acquire(perAddress, windowMs) : ALLOWED]);
  if (!byUser.allowed || !byIp.allowed) {
    // The side that did count an attempt gets it back: this attempt never happened.
    await Promise.all([byUser.allowed ? user.release("refund") : undefined, byIp.allowed ? ip?.release("refund") : undefined]);
    const wait = Math.max(byUser.allowed ? 0 : byUser.retryAfterMs, byIp.allowed ? 0 : byIp.retryAfterMs);
    return { allowed: false, retryAfterMs: wait };
  }
  return {
    allowed: true,
    async succeeded() {
      await Promise.all([user.release("reset"), ip?.release("refund")]);
    },
  };
}

/** Whether the address may try a bearer token now (counts nothing). */
export async function checkBearerAddress(env: Env, address: string | undefined): Promise<ThrottleVerdict> {
  if (address === undefined) return ALLOWED;
  const { perAddress, windowMs } = getConfig(env).authThrottle;
  return authThrottleStub(env, `ip:${address}`).check(perAddress, windowMs);
}

/** Counts a failed bearer authentication against the address; answers whether it is now refused. */
export async function recordBearerFailure(env: Env, address: string | undefined): Promise<ThrottleVerdict> {
  if (address === undefined) return ALLOWED;
  const { perAddress, windowMs } = getConfig(env).authThrottle;
  return authThrottleStub(env, `ip:${address}`).acquire(perAddress, windowMs);
}
