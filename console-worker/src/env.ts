import type { AccountLimits } from "./objects/account-limits.ts";
import type { Scheduler } from "./objects/scheduler.ts";
import type { Session } from "./objects/session.ts";
import type { Task } from "./objects/task.ts";
import type { WorkerNode } from "./objects/worker-node.ts";

/** Bindings and variables of the console Worker (see wrangler.toml). */
export interface Env {
  DB: D1Database;
  WORKER_NODE: DurableObjectNamespace<WorkerNode>;
  SCHEDULER: DurableObjectNamespace<Scheduler>;
  SESSION: DurableObjectNamespace<Session>;
  TASK: DurableObjectNamespace<Task>;
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
  /** PBKDF2 iterations for new password hashes (Cloudflare caps at 100000). */
  CONSOLE_PASSWORD_ITERATIONS?: string;
  /** Per-account limits (see lib/limits.ts): open terminal sessions, running commands, session lifetime. */
  CONSOLE_ACCOUNT_MAX_SESSIONS?: string;
  CONSOLE_ACCOUNT_MAX_RUNS?: string;
  CONSOLE_SESSION_MAX_LIFETIME_SEC?: string;
  /** Most `max_inflight` a worker may claim per capability (default 64). */
  CONSOLE_WORKER_MAX_INFLIGHT?: string;
}
