import type { Env } from "../env.ts";
import { AppError } from "./errors.ts";

/** The console's settings, parsed and checked once from the CONSOLE_* variables. */
export interface ConsoleConfig {
  /** HMAC key for tokens, worker secrets and session ids. */
  hashKey: string;
  enableRegistration: boolean;
  /** Only used for the very first admin account. */
  dashboardUsername: string | undefined;
  dashboardPassword: string | undefined;
  taskRetentionDays: number;
  version: string;
  repoUrl: string;
  /** Origin (no trailing slash) workers use to reach the console; the request origin when unset. */
  publicUrl: string | undefined;
  /** PBKDF2 iterations for new password hashes; a stored hash with another count is redone at sign-in. */
  passwordIterations: number;
  /** Origins (beyond this console's own) whose browser pages may call `/mcp`. */
  allowedOrigins: string[];
  /** How failed sign-ins and bearer authentications are throttled. */
  authThrottle: AuthThrottleConfig;
}

/** Limits on failed authentications, counted in fixed windows that start at the first failure. */
export interface AuthThrottleConfig {
  /** Failed sign-ins per username in one window; beyond, that username answers 429 until the window ends. */
  perUser: number;
  /** Failed sign-ins and bearer authentications per client address in one window. */
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_CONSOLE_VERSION = "0.1.0";
export const DEFAULT_REPO_URL = "https://github.com/onlyboxes/onlyboxes-workerd";
/**
 * PBKDF2 iterations when CONSOLE_PASSWORD_ITERATIONS is unset: Cloudflare refuses more than
 * 100,000 per derivation, so this is the default everywhere the code cannot tell; the
 * self-host launcher sets SELF_HOST_PASSWORD_ITERATIONS instead.
 */
export const DEFAULT_PASSWORD_ITERATIONS = 100_000;
/** What the self-host launcher passes (workerd on one's own machine has no cap); OWASP's 2023 figure. */
export const SELF_HOST_PASSWORD_ITERATIONS = 600_000;
/** Shortest password accepted for a new account (register and the first admin). */
export const MIN_PASSWORD_LENGTH = 12;

/** Thrown (as a 500 AppError) when a variable is missing or malformed; the message names the variable. */
function misconfigured(message: string): AppError {
  return new AppError("internal", `console misconfigured: ${message}`);
}

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

function parseBool(name: string, value: string | undefined, fallback: boolean): boolean {
  const v = nonEmpty(value)?.toLowerCase();
  if (v === undefined) return fallback;
  if (["true", "1", "yes", "on"].includes(v)) return true;
  if (["false", "0", "no", "off"].includes(v)) return false;
  throw misconfigured(`${name} must be true or false, got "${value}"`);
}

function parseIntVar(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  const v = nonEmpty(value);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw misconfigured(`${name} must be an integer, got "${value}"`);
  const n = Number(v);
  if (n < min || n > max) throw misconfigured(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function parseOrigin(name: string, value: string | undefined): string | undefined {
  const v = nonEmpty(value);
  if (v === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw misconfigured(`${name} must be an absolute http(s) URL, got "${value}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw misconfigured(`${name} must be an absolute http(s) URL, got "${value}"`);
  }
  // Keep a path prefix (a console behind a reverse proxy at /onlyboxes) but drop the trailing slash.
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}

/** A comma-separated list of origins; each must be an absolute http(s) URL without a path. */
function parseOriginList(name: string, value: string | undefined): string[] {
  const out: string[] = [];
  for (const part of (value ?? "").split(",")) {
    const v = part.trim();
    if (v === "") continue;
    let url: URL | undefined;
    try {
      url = new URL(v);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.pathname !== "/" || url.search || url.hash) {
      throw misconfigured(`${name} must list origins like https://app.example (scheme, host, optional port), got "${v}"`);
    }
    out.push(url.origin);
  }
  return out;
}

/** Parses the CONSOLE_* variables without caching; throws a 500 AppError naming the bad variable. */
export function parseConfig(env: Env): ConsoleConfig {
  const hashKey = nonEmpty(env.CONSOLE_HASH_KEY);
  if (hashKey === undefined) throw misconfigured("CONSOLE_HASH_KEY is required but not set");
  return {
    hashKey,
    enableRegistration: parseBool("CONSOLE_ENABLE_REGISTRATION", env.CONSOLE_ENABLE_REGISTRATION, false),
    dashboardUsername: nonEmpty(env.CONSOLE_DASHBOARD_USERNAME),
    dashboardPassword: env.CONSOLE_DASHBOARD_PASSWORD ? env.CONSOLE_DASHBOARD_PASSWORD : undefined,
    taskRetentionDays: parseIntVar("CONSOLE_TASK_RETENTION_DAYS", env.CONSOLE_TASK_RETENTION_DAYS, 30, 1, 36_500),
    version: nonEmpty(env.CONSOLE_VERSION) ?? DEFAULT_CONSOLE_VERSION,
    repoUrl: nonEmpty(env.CONSOLE_REPO_URL) ?? DEFAULT_REPO_URL,
    publicUrl: parseOrigin("CONSOLE_PUBLIC_URL", env.CONSOLE_PUBLIC_URL),
    passwordIterations: parseIntVar(
      "CONSOLE_PASSWORD_ITERATIONS",
      env.CONSOLE_PASSWORD_ITERATIONS,
      DEFAULT_PASSWORD_ITERATIONS,
      1,
      10_000_000,
    ),
    allowedOrigins: parseOriginList("CONSOLE_ALLOWED_ORIGINS", env.CONSOLE_ALLOWED_ORIGINS),
    authThrottle: {
      perUser: parseIntVar("CONSOLE_AUTH_FAILURES_PER_USER", env.CONSOLE_AUTH_FAILURES_PER_USER, 5, 1, 1_000_000),
      perAddress: parseIntVar("CONSOLE_AUTH_FAILURES_PER_ADDRESS", env.CONSOLE_AUTH_FAILURES_PER_ADDRESS, 20, 1, 1_000_000),
      windowMs: parseIntVar("CONSOLE_AUTH_FAILURE_WINDOW_SEC", env.CONSOLE_AUTH_FAILURE_WINDOW_SEC, 900, 1, 7 * 24 * 3600) * 1000,
    },
  };
}

// Keyed by the env object: one parse per isolate in production, while tests that pass a
// modified env get their own parse instead of a stale one.
const cache = new WeakMap<Env, ConsoleConfig>();
const reported = new Set<string>();

/**
 * Returns the console's config, parsed once per env object (once per isolate in practice).
 * A missing CONSOLE_HASH_KEY or malformed variable throws a 500 AppError whose message
 * names the variable; the problem is logged once per isolate.
 */
export function getConfig(env: Env): ConsoleConfig {
  const cached = cache.get(env);
  if (cached) return cached;
  try {
    const config = parseConfig(env);
    cache.set(env, config);
    return config;
  } catch (err) {
    if (err instanceof AppError && !reported.has(err.message)) {
      reported.add(err.message);
      console.error(JSON.stringify({ level: "error", msg: err.message, component: "config" }));
    }
    throw err;
  }
}
