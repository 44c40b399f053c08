import { hostname } from "node:os";

/** The worker's connection and identity settings, read from WORKER_* variables. */
export interface WorkerConfig {
  nodeId: string;
  secret: string;
  consoleUrl: string;
  insecure: boolean;
  nodeName: string;
  version: string;
  labels: Record<string, string>;
  heartbeatIntervalSec: number;
  heartbeatJitterPct: number;
  maxInflight: number;
  /** Slots of `echo`: it costs nothing, so it gets many (the console's default cap). */
  echoMaxInflight: number;
  dockerEnabled: boolean;
  shutdownGraceSec: number;
  echoDelayMs: number;
}

/** Echo's slots unless WORKER_ECHO_MAX_INFLIGHT (or WORKER_MAX_INFLIGHT) says otherwise: the console's claim cap. */
const DEFAULT_ECHO_MAX_INFLIGHT = 64;

/** Thrown for invalid configuration; the message names the variable and what is expected. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

function int(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return n;
}

function bool(env: NodeJS.ProcessEnv, name: string, def: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === "") return def;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

function parseLabels(raw: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!raw) return labels;
  for (const part of raw.split(",")) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf("=");
    if (eq <= 0) throw new ConfigError(`WORKER_LABELS must look like key=value,key2=value2; bad item "${item}"`);
    labels[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return labels;
}

/** Reads and validates the worker configuration; throws ConfigError with a clear message. */
export function parseWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const nodeId = env.WORKER_ID?.trim() ?? "";
  const secret = env.WORKER_SECRET?.trim() ?? "";
  const missing = [!nodeId && "WORKER_ID", !secret && "WORKER_SECRET"].filter(Boolean);
  if (missing.length) {
    throw new ConfigError(
      `${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} required: create a worker in the console (Workers → Create) and paste its start command`,
    );
  }
  const consoleUrl = (env.WORKER_CONSOLE_URL ?? "http://127.0.0.1:8089").trim();
  let url: URL;
  try {
    url = new URL(consoleUrl);
  } catch {
    throw new ConfigError(`WORKER_CONSOLE_URL is not a valid URL: "${consoleUrl}"`);
  }
  if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol)) {
    throw new ConfigError(`WORKER_CONSOLE_URL must be http(s):// or ws(s)://, got "${consoleUrl}"`);
  }
  const insecure = bool(env, "WORKER_CONSOLE_INSECURE", false);
  const plaintext = url.protocol === "http:" || url.protocol === "ws:";
  if (plaintext && !insecure) {
    throw new ConfigError(
      `WORKER_CONSOLE_URL "${consoleUrl}" is plaintext; use https:// (wss) or set WORKER_CONSOLE_INSECURE=true to allow it explicitly`,
    );
  }
  const maxInflight = int(env, "WORKER_MAX_INFLIGHT", 4, 1, 1024);
  const echoDefault = env.WORKER_MAX_INFLIGHT?.trim() ? maxInflight : DEFAULT_ECHO_MAX_INFLIGHT;
  return {
    nodeId,
    secret,
    consoleUrl,
    insecure,
    nodeName: env.WORKER_NODE_NAME?.trim() || hostname(),
    version: env.WORKER_VERSION?.trim() || "0.1.0",
    labels: parseLabels(env.WORKER_LABELS),
    heartbeatIntervalSec: int(env, "WORKER_HEARTBEAT_INTERVAL_SEC", 5, 1, 300),
    heartbeatJitterPct: int(env, "WORKER_HEARTBEAT_JITTER_PCT", 20, 0, 90),
    maxInflight,
    echoMaxInflight: int(env, "WORKER_ECHO_MAX_INFLIGHT", echoDefault, 1, 1024),
    dockerEnabled: bool(env, "WORKER_DOCKER_ENABLED", true),
    shutdownGraceSec: int(env, "WORKER_SHUTDOWN_GRACE_SEC", 30, 0, 3600),
    echoDelayMs: int(env, "WORKER_ECHO_DELAY_MS", 0, 0, 600_000),
  };
}
