import type {
  CreatedToken,
  CreatedWorker,
  RegisteredAccount,
  SessionInfo,
  TaskSummaryList,
  TerminalSessionList,
  TokenList,
  WorkerInflight,
  WorkerPage,
  WorkerStats,
  WorkerStatusFilter,
} from "./types.ts";

/** A failed API call: the HTTP status and the server's `{ error }` message. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

type UnauthorizedListener = () => void;
let onUnauthorized: UnauthorizedListener | undefined;

/**
 * Registers who hears about a 401 from a call made while signed in (an expired or
 * revoked session), so the app can send the user back to sign-in with a notice.
 */
export function setUnauthorizedListener(listener: UnauthorizedListener | undefined): void {
  onUnauthorized = listener;
}

interface RequestOptions {
  method?: "GET" | "POST" | "DELETE";
  body?: unknown;
  /** Calls whose 401 means "wrong credentials" or "not signed in yet", not "session expired". */
  authProbe?: boolean;
}

async function messageOf(res: Response): Promise<string> {
  try {
    const body: unknown = await res.json();
    if (body && typeof body === "object" && "error" in body && typeof body.error === "string") return body.error;
  } catch {
    // Not JSON (a proxy error page, say): fall back to the status text below.
  }
  return res.statusText || `request failed with status ${res.status}`;
}

async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const init: RequestInit = {
    method: opts.method ?? "GET",
    credentials: "same-origin",
    headers: { accept: "application/json" },
  };
  if (opts.body !== undefined) {
    init.headers = { accept: "application/json", "content-type": "application/json" };
    init.body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, "Cannot reach the console. Check that it is running and try again.");
  }
  if (!res.ok) {
    const message = await messageOf(res);
    if (res.status === 401 && !opts.authProbe) onUnauthorized?.();
    throw new ApiError(res.status, message);
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

const CONSOLE = "/api/v1/console";
const WORKERS = "/api/v1/workers";

/** Typed calls to the console REST API on the same origin. */
export const api = {
  login: (username: string, password: string) =>
    request<SessionInfo>(`${CONSOLE}/login`, { method: "POST", body: { username, password }, authProbe: true }),
  session: () => request<SessionInfo>(`${CONSOLE}/session`, { authProbe: true }),
  logout: () => request<void>(`${CONSOLE}/logout`, { method: "POST", authProbe: true }),
  register: (username: string, password: string) =>
    request<RegisteredAccount>(`${CONSOLE}/register`, { method: "POST", body: { username, password } }),

  listTokens: () => request<TokenList>(`${CONSOLE}/tokens`),
  createToken: (name: string, token?: string) =>
    request<CreatedToken>(`${CONSOLE}/tokens`, { method: "POST", body: token ? { name, token } : { name } }),
  deleteToken: (id: string) => request<void>(`${CONSOLE}/tokens/${encodeURIComponent(id)}`, { method: "DELETE" }),

  listTasks: (limit = 50) => request<TaskSummaryList>(`${CONSOLE}/tasks?limit=${limit}`),
  listSessions: () => request<TerminalSessionList>(`${CONSOLE}/sessions`),
  endSession: (id: string) => request<void>(`${CONSOLE}/sessions/${encodeURIComponent(id)}`, { method: "DELETE" }),

  listWorkers: (page: number, pageSize: number, status: WorkerStatusFilter) =>
    request<WorkerPage>(`${WORKERS}?page=${page}&page_size=${pageSize}&status=${status}`),
  workerStats: () => request<WorkerStats>(`${WORKERS}/stats`),
  workerInflight: () => request<WorkerInflight>(`${WORKERS}/inflight`),
  createWorker: () => request<CreatedWorker>(WORKERS, { method: "POST" }),
  deleteWorker: (nodeId: string) => request<void>(`${WORKERS}/${encodeURIComponent(nodeId)}`, { method: "DELETE" }),
};

/** A message fit for an error banner, whatever was thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
