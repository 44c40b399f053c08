import type { AccountLimits } from "./objects/account-limits.ts";
import type { AuthThrottle } from "./objects/auth-throttle.ts";
import type { NodeRegistry } from "./objects/node-registry.ts";
import type { Session } from "./objects/session.ts";
import type { Task } from "./objects/task.ts";
import type { WorkerNode } from "./objects/worker-node.ts";

/** Bindings and variables of the console Worker (see wrangler.toml). */
export interface Env {
  DB: D1Database;
  WORKER_NODE: DurableObjectNamespace<WorkerNode>;
  NODE_REGISTRY: DurableObjectNamespace<NodeRegistry>;
  SESSION: DurableObjectNamespace<Session>;
  TASK: DurableObjectNamespace<Task>;
  AUTH_THROTTLE: DurableObjectNamespace<AuthThrottle>;
  ACCOUNT_LIMITS: DurableObjectNamespace<AccountLimits>;
  ASSETS?: Fetcher;
  CONSOLE_HASH_KEY?: string;
  CONSOLE_ENABLE_REGISTRATION?: string;
  CONSOLE_DASHBOARD_USERNAME?: string;
  CONSOLE_DASHBOARD_PASSWORD?: string;
  CONSOLE_TASK_RETENTION_DAYS?: string;
  CONSOLE_VERSION?: string;
  CONSOLE_REPO_URL?: string;
  /** Public URL workers use to reach the console (for the startup command); defaults to the request origin. */
  CONSOLE_PUBLIC_URL?: string;
  /** Seconds between worker heartbeats the console asks for (default 5; offline after 3 missed). */
  CONSOLE_HEARTBEAT_INTERVAL_SEC?: string;
  /** Set by the self-host launcher to a new value on every start (live registrations do not survive a restart). */
  CONSOLE_BOOT_ID?: string;
  /**
   * Set by the self-host launcher to the name of the newest D1 migration file: until the
   * database lists it as applied, the API answers 503 with Retry-After (the console is starting).
   */
  CONSOLE_SCHEMA_MIGRATION?: string;
  /** Self-host only: node id and secret of the launcher's local worker, registered by the boot event. */
  CONSOLE_LOCAL_WORKER_ID?: string;
  CONSOLE_LOCAL_WORKER_SECRET?: string;
  /** PBKDF2 iterations for new password hashes (Cloudflare caps at 100000; the self-host launcher passes 600000). */
  CONSOLE_PASSWORD_ITERATIONS?: string;
  /** Comma-separated origins whose browser pages may call /mcp, beyond the console's own. */
  CONSOLE_ALLOWED_ORIGINS?: string;
  /** Failed sign-ins per username per window before 429 (default 5). */
  CONSOLE_AUTH_FAILURES_PER_USER?: string;
  /** Failed sign-ins and bearer authentications per client address per window before 429 (default 20). */
  CONSOLE_AUTH_FAILURES_PER_ADDRESS?: string;
  /** Length of the failure window in seconds (default 900). */
  CONSOLE_AUTH_FAILURE_WINDOW_SEC?: string;
  /** Per-account limits (see lib/limits.ts): open terminal sessions, running commands, session lifetime. */
  CONSOLE_ACCOUNT_MAX_SESSIONS?: string;
  CONSOLE_ACCOUNT_MAX_RUNS?: string;
  CONSOLE_SESSION_MAX_LIFETIME_SEC?: string;
  /** Largest file moved in or out of a session, in bytes (default 64 MiB). */
  CONSOLE_FILE_MAX_BYTES?: string;
  /** Most `max_inflight` a worker may claim per capability (default 64). */
  CONSOLE_WORKER_MAX_INFLIGHT?: string;
  /** Bearer token of GET /metrics; unset → metrics are off (404). */
  CONSOLE_METRICS_TOKEN?: string;
  /** Calls that may wait for a slot per node and capability before 429 (default 256). */
  CONSOLE_QUEUE_MAX?: string;
}
