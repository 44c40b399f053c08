import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";

/** Failures counted in the current window; the window starts at its first failure. */
interface WindowState {
  count: number;
  windowStart: number;
}

/** What `acquire` and `check` answer: go ahead, or wait this long. */
export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

const STATE_KEY = "window";

/**
 * Counts failed authentications for one key (`user:<name>` or `ip:<address>`) in a fixed
 * window that starts at the first failure. Once `limit` attempts are counted, every
 * attempt is refused until the window ends; an alarm at the window's end deletes the
 * state, so keys that stop failing leave nothing behind.
 *
 * `acquire` counts an attempt before its outcome is known, in one step with no await
 * between the read and the write: parallel guesses cannot all slip through before the
 * first of them is recorded. A success then gives the attempt back with `release`.
 */
export class AuthThrottle extends DurableObject<Env> {
  private load(now: number, windowMs: number): WindowState | undefined {
    const state = this.ctx.storage.kv.get<WindowState>(STATE_KEY);
    if (state === undefined || now - state.windowStart >= windowMs) return undefined;
    return state;
  }

  private verdict(state: WindowState | undefined, limit: number, windowMs: number, now: number): ThrottleVerdict {
    if (state === undefined || state.count < limit) return { allowed: true };
    return { allowed: false, retryAfterMs: Math.max(1, state.windowStart + windowMs - now) };
  }

  /** Answers whether an attempt would be allowed, without counting one. */
  check(limit: number, windowMs: number): ThrottleVerdict {
    const now = Date.now();
    return this.verdict(this.load(now, windowMs), limit, windowMs, now);
  }

  /** Counts one attempt if the key is under its limit; refuses (counting nothing) otherwise. */
  async acquire(limit: number, windowMs: number): Promise<ThrottleVerdict> {
    const now = Date.now();
    const current = this.load(now, windowMs);
    const verdict = this.verdict(current, limit, windowMs, now);
    if (!verdict.allowed) return verdict;
    const next: WindowState = current
      ? { count: current.count + 1, windowStart: current.windowStart }
      : { count: 1, windowStart: now };
    this.ctx.storage.kv.put(STATE_KEY, next);
    if (!current) await this.ctx.storage.setAlarm(now + windowMs);
    return verdict;
  }

  /**
   * Gives back an attempt that turned out to succeed: `refund` uncounts that one attempt
   * (an address shared by many users keeps its other failures), `reset` forgets the
   * window (a user who signed in has proven they know the password).
   */
  async release(mode: "refund" | "reset"): Promise<void> {
    const state = this.ctx.storage.kv.get<WindowState>(STATE_KEY);
    if (state === undefined) return;
    if (mode === "reset" || state.count <= 1) {
      this.ctx.storage.kv.delete(STATE_KEY);
      await this.ctx.storage.deleteAlarm();
      return;
    }
    this.ctx.storage.kv.put(STATE_KEY, { count: state.count - 1, windowStart: state.windowStart });
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}

/** The throttle of one key, e.g. `user:alice` or `ip:203.0.113.9`. */
export function authThrottleStub(env: Env, key: string): DurableObjectStub<AuthThrottle> {
  return env.AUTH_THROTTLE.get(env.AUTH_THROTTLE.idFromName(key));
}
