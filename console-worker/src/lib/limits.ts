import type { Env } from "../env.ts";
import { AppError } from "./errors.ts";

/** Per-account limits, so one account cannot hold every session or slot the workers offer; and what one worker may claim. */
export interface AccountLimitsConfig {
  /** Most slots (`max_inflight`) one worker may declare per capability. */
  workerMaxInflight: number;
  /** Terminal sessions one account may have open at once. */
  maxSessions: number;
  /** Fresh-container runs (stateless pythonExec) one account may have at once; session commands are bounded by `maxSessions`. */
  maxRuns: number;
  /** A session ends this long after its creation, however often its lease is renewed. */
  sessionMaxLifetimeMs: number;
}

export const DEFAULT_ACCOUNT_MAX_SESSIONS = 8;
export const DEFAULT_ACCOUNT_MAX_RUNS = 8;
/** 12 hours: a working day of an agent in one sandbox, and the dashboard session's own TTL. */
export const DEFAULT_SESSION_MAX_LIFETIME_SEC = 43_200;

/** An integer variable within [min, max], or `fallback` when unset; anything else is a 500 naming the variable. */
export function intVar(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  const v = value?.trim();
  if (!v) return fallback;
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new AppError("internal", `console misconfigured: ${name} must be an integer between ${min} and ${max}, got "${value}"`);
  }
  return n;
}

const cache = new WeakMap<Env, AccountLimitsConfig>();

/** The per-account limits from CONSOLE_ACCOUNT_MAX_SESSIONS, _MAX_RUNS and CONSOLE_SESSION_MAX_LIFETIME_SEC. */
export function accountLimits(env: Env): AccountLimitsConfig {
  const cached = cache.get(env);
  if (cached) return cached;
  const config: AccountLimitsConfig = {
    workerMaxInflight: intVar("CONSOLE_WORKER_MAX_INFLIGHT", env.CONSOLE_WORKER_MAX_INFLIGHT, 64, 1, 1024),
    maxSessions: intVar(
      "CONSOLE_ACCOUNT_MAX_SESSIONS",
      env.CONSOLE_ACCOUNT_MAX_SESSIONS,
      DEFAULT_ACCOUNT_MAX_SESSIONS,
      1,
      10_000,
    ),
    maxRuns: intVar("CONSOLE_ACCOUNT_MAX_RUNS", env.CONSOLE_ACCOUNT_MAX_RUNS, DEFAULT_ACCOUNT_MAX_RUNS, 1, 10_000),
    sessionMaxLifetimeMs:
      intVar(
        "CONSOLE_SESSION_MAX_LIFETIME_SEC",
        env.CONSOLE_SESSION_MAX_LIFETIME_SEC,
        DEFAULT_SESSION_MAX_LIFETIME_SEC,
        60,
        31_536_000,
      ) * 1000,
  };
  cache.set(env, config);
  return config;
}
