/** Shapes of the console REST API as the dashboard reads them (see API-CONTRACT.md). */

export interface Account {
  account_id: string;
  username: string;
  is_admin: boolean;
}

/** Body of POST /login and GET /session. */
export interface SessionInfo {
  authenticated: boolean;
  account: Account;
  registration_enabled: boolean;
  console_version: string;
  console_repo_url: string;
}

export interface Token {
  id: string;
  name: string;
  token_masked: string;
  created_at: string;
  updated_at: string;
}

/** POST /tokens answers with the plaintext value, shown exactly once. */
export interface CreatedToken extends Token {
  token: string;
  generated: boolean;
}

export interface ListResponse<T> {
  items: T[];
  total: number;
}

export interface Capability {
  name: string;
  max_inflight: number;
}

export type WorkerStatus = "online" | "offline";
export type WorkerStatusFilter = "all" | WorkerStatus;

export interface WorkerItem {
  node_id: string;
  node_name: string;
  executor_kind: string;
  capabilities: Capability[];
  labels: Record<string, string>;
  version: string;
  status: WorkerStatus;
  registered_at: string;
  last_seen_at: string | null;
}

export interface WorkerPage extends ListResponse<WorkerItem> {
  page: number;
  page_size: number;
}

export interface WorkerStats {
  total: number;
  online: number;
  offline: number;
  stale: number;
  stale_after_sec: number;
  generated_at: string;
}

export interface InflightCapability {
  name: string;
  inflight: number;
  max_inflight: number;
}

export interface WorkerInflight {
  workers: { node_id: string; capabilities: InflightCapability[] }[];
  generated_at: string;
}

export interface CreatedWorker {
  node_id: string;
  command: string;
}

export interface RegisteredAccount {
  account: Account;
  created_at: string;
  updated_at: string;
}

export type TaskStatus = "queued" | "dispatched" | "running" | "succeeded" | "failed" | "timeout" | "canceled";

/** A row of GET /console/tasks: the signed-in account's recent tasks. */
export interface TaskSummary {
  task_id: string;
  request_id: string | null;
  capability: string;
  status: TaskStatus;
  error_code: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  duration_ms: number | null;
}

/** A row of GET /console/sessions: a live terminal session of the signed-in account. */
export interface TerminalSessionSummary {
  session_id: string;
  node_id: string;
  created_at: string;
  last_used_at: string;
  lease_expires_at: string;
}
