import { hostname } from "node:os";
import { DEFAULT_FILE_MAX_BYTES, FILE_MAX_BYTES_LIMIT, TERMINAL_LEASE_LIMIT_SEC, TERMINAL_LEASE_SEC } from "@onlyboxes/proto";

/** The offline images `scripts/build-images.sh` builds; real deployments may use e.g. python:3.12-slim. */
export const DEFAULT_PYTHON_IMAGE = "onlyboxes/python:3.11";
export const DEFAULT_TERMINAL_IMAGE = "onlyboxes/terminal:bookworm";

/** Where the Docker Engine API answers. */
export type DockerEndpoint = { socketPath: string } | { host: string; port: number; protocol: "http" | "https" };

/** Resource and privilege limits applied to every sandbox container. */
export interface SandboxLimits {
  memoryBytes: number;
  nanoCpus: number;
  pidsLimit: number;
  /** `uid:gid` the sandboxed program runs as. */
  user: string;
  /** Bridge networking instead of `none`: outbound traffic (and DNS) becomes possible. */
  networkEgress: boolean;
  /** Sandboxes get a read-only root; their writable places are size-limited tmpfs mounts. */
  readonlyRootfs: boolean;
  /** Size of every sandbox's /tmp. */
  tmpfsBytes: number;
  /** Size of a terminal session's /workspace (its home). */
  diskBytes: number;
  /** Most open files per process (RLIMIT_NOFILE). */
  nofile: number;
}

/** The Docker half of the worker's configuration, read from WORKER_* and DOCKER_HOST. */
export interface DockerConfig {
  endpoint: DockerEndpoint;
  /** Goes into the `dev.onlyboxes.node-id` label so leftovers of this node can be found. */
  nodeId: string;
  pythonImage: string;
  terminalImage: string;
  /** Per-stream cap for stdout/stderr (both capabilities) and the terminalResource read limit. */
  outputLimitBytes: number;
  /** Most PNG bytes of figures one pythonExec result carries (WORKER_PYTHON_IMAGE_LIMIT_BYTES). */
  imageLimitBytes: number;
  limits: SandboxLimits;
  pythonPoolSize: number;
  /** Most pythonExec containers the pool starts at once (WORKER_PYTHON_EXEC_POOL_STARTS). */
  pythonPoolStarts: number;
  leaseMinSec: number;
  leaseDefaultSec: number;
  leaseMaxSec: number;
  maxSessions: number;
  maxInflight: { pythonExec: number; terminalExec: number; terminalResource: number; sessionFiles: number };
  /** Largest file moved in or out of a session (WORKER_FILE_MAX_BYTES). */
  fileMaxBytes: number;
  /** How often the engine is pinged (to notice it appearing or vanishing). */
  enginePollMs: number;
  /** How often the janitor looks for expired terminal sessions. */
  janitorIntervalMs: number;
}

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

/** workerd closes a WebSocket (1009) on a message above 32 MiB: no result may come near it. */
export const MAX_WS_MESSAGE_BYTES = 32 * MIB;
/**
 * Worst case of one result in JSON: terminalExec and pythonExec carry two streams of up to
 * the limit each, and a control byte costs 6 characters once escaped (`\u0000`), so 12
 * bytes per byte of limit; the rest of the result, the protobuf and Connect framing are
 * far below the 2 MiB kept aside. (terminalResource's base64 costs 4/3 per byte.)
 */
const WORST_JSON_BYTES_PER_LIMIT_BYTE = 12;
export const MAX_OUTPUT_LIMIT_BYTES = Math.floor((MAX_WS_MESSAGE_BYTES - 2 * MIB) / WORST_JSON_BYTES_PER_LIMIT_BYTE);

/** What a result may spend on figures: base64 costs 4/3 per byte, next to the two output streams' worst case. */
export function maxImageLimitBytes(outputLimitBytes: number): number {
  return Math.floor(((MAX_WS_MESSAGE_BYTES - 2 * MIB - WORST_JSON_BYTES_PER_LIMIT_BYTE * outputLimitBytes) * 3) / 4);
}

function imageLimit(env: NodeJS.ProcessEnv, outputLimitBytes: number): number {
  const max = maxImageLimitBytes(outputLimitBytes);
  const n = bytes(env, "WORKER_PYTHON_IMAGE_LIMIT_BYTES", Math.min(8 * MIB, max), 0, 64 * GIB);
  if (n > max) {
    throw new Error(
      `WORKER_PYTHON_IMAGE_LIMIT_BYTES must be at most ${max} with an output limit of ${outputLimitBytes} bytes, got ${n}: figures travel as base64 beside both output streams, and workerd closes the worker's connection on a message above 32 MiB`,
    );
  }
  return n;
}

function fail(name: string, expected: string, raw: string): never {
  throw new Error(`${name} must be ${expected}, got "${raw}"`);
}

function raw(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

function int(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const v = raw(env, name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    fail(name, `an integer between ${min} and ${max}`, v);
  }
  return n;
}

function bool(env: NodeJS.ProcessEnv, name: string, def: boolean): boolean {
  const v = raw(env, name)?.toLowerCase();
  if (v === undefined) return def;
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  return fail(name, "true or false", v);
}

/** Parses sizes like `256m`, `1g`, `65536`, `512k` (binary units, like `docker run --memory`). */
function bytes(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const v = raw(env, name);
  if (v === undefined) return def;
  const m = /^(\d+)\s*([bkmg]?)i?b?$/i.exec(v);
  if (!m || m[1] === undefined) return fail(name, "a size such as 256m, 1g or 1048576", v);
  const unit = (m[2] ?? "").toLowerCase();
  const n = Number(m[1]) * (unit === "k" ? KIB : unit === "m" ? MIB : unit === "g" ? GIB : 1);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    fail(name, `between ${min} and ${max} bytes`, v);
  }
  return n;
}

function image(env: NodeJS.ProcessEnv, name: string, def: string): string {
  const v = raw(env, name) ?? def;
  // A reference with spaces or a scheme is a typo; Docker would answer with a vaguer error later.
  if (!/^[a-zA-Z0-9][a-zA-Z0-9._\-/:@]*$/.test(v)) fail(name, "an image reference such as python:3.12-slim", v);
  return v;
}

function endpoint(env: NodeJS.ProcessEnv): DockerEndpoint {
  const v = raw(env, "DOCKER_HOST");
  if (v === undefined) return { socketPath: "/var/run/docker.sock" };
  if (v.startsWith("unix://")) {
    const socketPath = v.slice("unix://".length);
    if (!socketPath.startsWith("/")) fail("DOCKER_HOST", "unix:///absolute/path or tcp://host:port", v);
    return { socketPath };
  }
  if (v.startsWith("/")) return { socketPath: v };
  const m = /^(tcp|http|https):\/\/([^:/]+):(\d+)\/?$/.exec(v);
  if (!m || m[2] === undefined || m[3] === undefined) {
    return fail("DOCKER_HOST", "unix:///absolute/path or tcp://host:port", v);
  }
  return { host: m[2], port: Number(m[3]), protocol: m[1] === "https" ? "https" : "http" };
}

function cpus(env: NodeJS.ProcessEnv): number {
  const v = raw(env, "WORKER_SANDBOX_CPUS");
  if (v === undefined) return 1e9;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n >= 0.01 && n <= 64)) fail("WORKER_SANDBOX_CPUS", "a number between 0.01 and 64", v);
  return Math.round(n * 1e9);
}

function user(env: NodeJS.ProcessEnv): string {
  const v = raw(env, "WORKER_SANDBOX_USER") ?? "1000:1000";
  if (!/^\d+(:\d+)?$/.test(v)) fail("WORKER_SANDBOX_USER", "a numeric uid or uid:gid such as 1000:1000", v);
  return v;
}

function outputLimit(env: NodeJS.ProcessEnv): number {
  const n = bytes(env, "WORKER_TERMINAL_OUTPUT_LIMIT_BYTES", MIB, KIB, 64 * GIB);
  if (n > MAX_OUTPUT_LIMIT_BYTES) {
    throw new Error(
      `WORKER_TERMINAL_OUTPUT_LIMIT_BYTES must be at most ${MAX_OUTPUT_LIMIT_BYTES} (2.5 MiB), got ${n}: two streams of that size can take 12 times as much in a JSON result, and workerd closes the worker's connection on a message above 32 MiB`,
    );
  }
  return n;
}

/**
 * Reads the Docker settings of the worker; throws an Error naming the variable and what it
 * expects for any invalid value.
 */
export function parseDockerConfig(env: NodeJS.ProcessEnv): DockerConfig {
  const inflight = int(env, "WORKER_MAX_INFLIGHT", 4, 1, 1024);
  // Any configuration lies within the contract's absolute bounds, which payloads are checked against.
  const { min: absMin, max: absMax } = TERMINAL_LEASE_LIMIT_SEC;
  const leaseMinSec = int(env, "WORKER_TERMINAL_LEASE_MIN_SEC", TERMINAL_LEASE_SEC.min, absMin, absMax);
  const leaseMaxSec = int(env, "WORKER_TERMINAL_LEASE_MAX_SEC", TERMINAL_LEASE_SEC.max, absMin, absMax);
  if (leaseMaxSec < leaseMinSec) {
    throw new Error(
      `WORKER_TERMINAL_LEASE_MAX_SEC (${leaseMaxSec}) must not be below WORKER_TERMINAL_LEASE_MIN_SEC (${leaseMinSec})`,
    );
  }
  const leaseDefaultSec = int(
    env,
    "WORKER_TERMINAL_LEASE_DEFAULT_SEC",
    Math.max(leaseMinSec, Math.min(TERMINAL_LEASE_SEC.default, leaseMaxSec)),
    leaseMinSec,
    leaseMaxSec,
  );
  const outputLimitBytes = outputLimit(env);
  return {
    endpoint: endpoint(env),
    nodeId: raw(env, "WORKER_ID") ?? hostname(),
    pythonImage: image(env, "WORKER_PYTHON_EXEC_DOCKER_IMAGE", DEFAULT_PYTHON_IMAGE),
    terminalImage: image(env, "WORKER_TERMINAL_EXEC_DOCKER_IMAGE", DEFAULT_TERMINAL_IMAGE),
    outputLimitBytes,
    imageLimitBytes: imageLimit(env, outputLimitBytes),
    limits: {
      // Docker refuses less than 6 MiB of memory for a container.
      memoryBytes: bytes(env, "WORKER_SANDBOX_MEMORY", 256 * MIB, 6 * MIB, 64 * GIB),
      nanoCpus: cpus(env),
      pidsLimit: int(env, "WORKER_SANDBOX_PIDS_LIMIT", 128, 8, 65_536),
      user: user(env),
      networkEgress: bool(env, "WORKER_SANDBOX_NETWORK_EGRESS", false),
      readonlyRootfs: bool(env, "WORKER_SANDBOX_READONLY_ROOTFS", true),
      tmpfsBytes: bytes(env, "WORKER_SANDBOX_TMPFS_SIZE", 64 * MIB, MIB, 16 * GIB),
      diskBytes: bytes(env, "WORKER_SANDBOX_DISK", GIB, MIB, 256 * GIB),
      nofile: int(env, "WORKER_SANDBOX_NOFILE", 4096, 64, 1_048_576),
    },
    pythonPoolSize: int(env, "WORKER_PYTHON_EXEC_POOL_SIZE", 2, 0, 64),
    pythonPoolStarts: int(env, "WORKER_PYTHON_EXEC_POOL_STARTS", 2, 1, 64),
    leaseMinSec,
    leaseDefaultSec,
    leaseMaxSec,
    maxSessions: int(env, "WORKER_TERMINAL_MAX_SESSIONS", 32, 1, 10_000),
    maxInflight: {
      pythonExec: int(env, "WORKER_PYTHON_EXEC_MAX_INFLIGHT", inflight, 1, 1024),
      terminalExec: int(env, "WORKER_TERMINAL_EXEC_MAX_INFLIGHT", inflight, 1, 1024),
      terminalResource: int(env, "WORKER_TERMINAL_RESOURCE_MAX_INFLIGHT", inflight, 1, 1024),
      sessionFiles: int(env, "WORKER_SESSION_FILES_MAX_INFLIGHT", inflight, 1, 1024),
    },
    fileMaxBytes: bytes(env, "WORKER_FILE_MAX_BYTES", DEFAULT_FILE_MAX_BYTES, FILE_MAX_BYTES_LIMIT.min, FILE_MAX_BYTES_LIMIT.max),
    enginePollMs: int(env, "WORKER_DOCKER_POLL_INTERVAL_MS", 5000, 100, 600_000),
    janitorIntervalMs: int(env, "WORKER_TERMINAL_JANITOR_INTERVAL_MS", 5000, 100, 600_000),
  };
}
