import {
  CAPABILITY_CONTRACTS,
  CAPABILITY_NAMES,
  createdTokenSchema,
  createdWorkerSchema,
  createSessionRequest,
  ECHO_ERRORS,
  type ErrorCode,
  echoRequest,
  echoResult,
  fileListResult,
  fileQuery,
  fileWriteResult,
  listQuery,
  registeredAccountSchema,
  SESSION_FILES_ERRORS,
  sessionInfoSchema,
  sessionView,
  TERMINAL_EXEC_ERRORS,
  taskBodySchema,
  taskConflictSchema,
  taskSummaryListSchema,
  terminalExecRequest,
  terminalExecResult,
  terminalSessionListSchema,
  tokenListSchema,
  WORKER_UNAVAILABLE_ERRORS,
  workerInflightSchema,
  workerPageSchema,
  workerStatsSchema,
} from "@onlyboxes/proto";
import { z } from "zod/v4";
import { recentTasksQuery } from "../routes/activity.ts";
import { createTokenBody, loginBody, registerBody } from "../routes/console.ts";
import { createTaskBody } from "../routes/tasks.ts";
import { createWorkerBody, listWorkersQuery, workerStatsQuery } from "../routes/workers.ts";

/**
 * Who may call a route: nobody special, a bearer access token, the dashboard's session
 * cookie (any account, or an admin's), or the metrics scrape token.
 */
export type RouteAuth = "none" | "bearer" | "session" | "admin" | "metrics";

/** One documented answer besides the error bodies. */
export interface RouteAnswer {
  description: string;
  /** JSON body; omitted for an answer without a body (204). */
  schema?: z.ZodType;
  /** Other media types the same status may carry (e.g. an SSE stream), described in prose. */
  alternatives?: Record<string, string>;
  headers?: Record<string, string>;
}

/** One public route: everything the OpenAPI document says about it. */
export interface ApiRoute {
  method: "get" | "post" | "put" | "delete";
  /** OpenAPI path template (`{id}` for a parameter). */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  auth: RouteAuth;
  /** Query parameters: an object schema whose fields are the parameters. */
  query?: z.ZodObject;
  body?: z.ZodType;
  /** Media type of the body when it is not JSON described by `body`. */
  rawBody?: { mediaType: string; description: string };
  answers: Partial<Record<number, RouteAnswer>>;
  /** The registry codes it may answer besides those its auth and body add. */
  errors: readonly ErrorCode[];
}

/** Codes any call that needs a worker may end with. */
const PLACEMENT: readonly ErrorCode[] = [...WORKER_UNAVAILABLE_ERRORS, "worker_error", "protocol_error"];

/** A task's `input`: exactly one capability's input contract. */
const taskInput = z.union(CAPABILITY_NAMES.map((name) => CAPABILITY_CONTRACTS[name].input));

/** The documented task body: the route's own schema, with `capability` and `input` spelled out. */
const taskCreateDoc = createTaskBody.extend({
  capability: z.enum(CAPABILITY_NAMES).describe("The capability to run."),
  input: taskInput.describe("The capability's input (its contract), without timeout_ms."),
});

const task = (description: string): RouteAnswer => ({ description, schema: taskBodySchema });
const pending = (description: string): RouteAnswer => ({
  ...task(description),
  headers: { Location: "Where to poll the unfinished task." },
});

/**
 * Every public HTTP route of the console. The OpenAPI document is built from this list
 * and the tests call each route to check its real answers against it, so adding a route
 * is one entry here.
 */
export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: "get",
    path: "/healthz",
    operationId: "health",
    summary: "Liveness: answers without touching storage or a worker.",
    tag: "meta",
    auth: "none",
    answers: { 200: { description: "The console runs.", schema: z.object({ ok: z.literal(true) }) } },
    errors: [],
  },
  {
    method: "get",
    path: "/api/v1/openapi.json",
    operationId: "openapi",
    summary: "This document.",
    tag: "meta",
    auth: "none",
    answers: {
      200: {
        description: "This document.",
        alternatives: { "application/json": "The OpenAPI 3.1 description of the console's HTTP API." },
      },
    },
    errors: [],
  },
  {
    method: "get",
    path: "/metrics",
    operationId: "metrics",
    summary: "Prometheus metrics (text format 0.0.4); 404 unless CONSOLE_METRICS_TOKEN is set.",
    tag: "meta",
    auth: "metrics",
    answers: { 200: { description: "The metrics.", alternatives: { "text/plain": "Prometheus text exposition format." } } },
    errors: ["not_found"],
  },
  {
    method: "post",
    path: "/api/v1/console/login",
    operationId: "login",
    summary: "Signs in to the dashboard and sets the session cookie.",
    tag: "console",
    auth: "none",
    body: loginBody,
    answers: {
      200: { description: "Signed in.", schema: sessionInfoSchema, headers: { "Set-Cookie": "The session cookie." } },
    },
    errors: ["unauthenticated", "login_throttled", "forbidden_origin", "unsupported_media_type"],
  },
  {
    method: "get",
    path: "/api/v1/console/session",
    operationId: "getSession",
    summary: "Who is signed in.",
    tag: "console",
    auth: "session",
    answers: { 200: { description: "The signed-in account.", schema: sessionInfoSchema } },
    errors: [],
  },
  {
    method: "post",
    path: "/api/v1/console/logout",
    operationId: "logout",
    summary: "Ends the dashboard session (succeeds without one too).",
    tag: "console",
    auth: "none",
    answers: { 204: { description: "Signed out; the cookie is cleared." } },
    errors: ["forbidden_origin", "unsupported_media_type"],
  },
  {
    method: "post",
    path: "/api/v1/console/register",
    operationId: "registerAccount",
    summary: "Creates an account (admin; only with CONSOLE_ENABLE_REGISTRATION).",
    tag: "console",
    auth: "session",
    body: registerBody,
    answers: { 201: { description: "The new account.", schema: registeredAccountSchema } },
    errors: ["forbidden", "conflict", "forbidden_origin", "unsupported_media_type"],
  },
  {
    method: "get",
    path: "/api/v1/console/tokens",
    operationId: "listTokens",
    summary: "The signed-in account's access tokens (masked).",
    tag: "tokens",
    auth: "session",
    answers: { 200: { description: "The tokens.", schema: tokenListSchema } },
    errors: [],
  },
  {
    method: "post",
    path: "/api/v1/console/tokens",
    operationId: "createToken",
    summary: "Creates an access token; its value is in this answer only.",
    tag: "tokens",
    auth: "session",
    body: createTokenBody,
    answers: { 201: { description: "The token with its value.", schema: createdTokenSchema } },
    errors: ["conflict", "forbidden_origin", "unsupported_media_type"],
  },
  {
    method: "delete",
    path: "/api/v1/console/tokens/{id}",
    operationId: "deleteToken",
    summary: "Revokes an access token.",
    tag: "tokens",
    auth: "session",
    answers: { 204: { description: "Revoked." } },
    errors: ["not_found", "forbidden_origin"],
  },
  {
    method: "get",
    path: "/api/v1/console/tokens/{id}/value",
    operationId: "getTokenValue",
    summary: "Always 410: a token's value is shown only when it is created.",
    tag: "tokens",
    auth: "session",
    answers: {},
    errors: ["gone"],
  },
  {
    method: "get",
    path: "/api/v1/console/tasks",
    operationId: "listRecentTasks",
    summary: "The signed-in account's recent tasks, newest first.",
    tag: "console",
    auth: "session",
    query: recentTasksQuery,
    answers: { 200: { description: "The tasks.", schema: taskSummaryListSchema } },
    errors: [],
  },
  {
    method: "get",
    path: "/api/v1/console/sessions",
    operationId: "listTerminalSessions",
    summary: "The signed-in account's live terminal sessions.",
    tag: "console",
    auth: "session",
    answers: { 200: { description: "The sessions.", schema: terminalSessionListSchema } },
    errors: [],
  },
  {
    method: "get",
    path: "/api/v1/workers",
    operationId: "listWorkers",
    summary: "Registered workers, one page.",
    tag: "workers",
    auth: "admin",
    query: listWorkersQuery,
    answers: { 200: { description: "One page of workers.", schema: workerPageSchema } },
    errors: [],
  },
  {
    method: "get",
    path: "/api/v1/workers/stats",
    operationId: "workerStats",
    summary: "How many workers are online, offline and stale.",
    tag: "workers",
    auth: "admin",
    query: workerStatsQuery,
    answers: { 200: { description: "The counts.", schema: workerStatsSchema } },
    errors: [],
  },
  {
    method: "get",
    path: "/api/v1/workers/inflight",
    operationId: "workerInflight",
    summary: "Calls running now on each connected worker, per capability.",
    tag: "workers",
    auth: "admin",
    answers: { 200: { description: "The load.", schema: workerInflightSchema } },
    errors: [],
  },
  {
    method: "post",
    path: "/api/v1/workers",
    operationId: "createWorker",
    summary: "Registers a worker; its secret is in this answer only.",
    tag: "workers",
    auth: "admin",
    body: createWorkerBody,
    answers: { 201: { description: "The worker and its start line.", schema: createdWorkerSchema } },
    errors: ["forbidden_origin", "unsupported_media_type"],
  },
  {
    method: "delete",
    path: "/api/v1/workers/{node_id}",
    operationId: "deleteWorker",
    summary: "Deletes a worker, revoking its credential and closing its connection.",
    tag: "workers",
    auth: "admin",
    answers: { 204: { description: "Deleted." } },
    errors: ["not_found", "forbidden_origin"],
  },
  {
    method: "get",
    path: "/api/v1/workers/{node_id}/startup-command",
    operationId: "getWorkerStartupCommand",
    summary: "Always 410: the start line holds the secret and is shown only at creation.",
    tag: "workers",
    auth: "admin",
    answers: {},
    errors: ["gone"],
  },
  {
    method: "post",
    path: "/api/v1/commands/echo",
    operationId: "echo",
    summary: "Sends a message to a worker and back.",
    tag: "commands",
    auth: "bearer",
    body: echoRequest,
    answers: { 200: { description: "The message, unchanged.", schema: echoResult } },
    errors: [...ECHO_ERRORS, ...PLACEMENT],
  },
  {
    method: "post",
    path: "/api/v1/commands/terminal",
    operationId: "terminalExec",
    summary: "Runs one shell command in a terminal session (a container kept between calls).",
    tag: "commands",
    auth: "bearer",
    body: terminalExecRequest,
    answers: {
      200: {
        description: "The command's outcome (a non-zero exit code is a normal result).",
        schema: terminalExecResult,
        alternatives: {
          "text/event-stream":
            'With Accept: text/event-stream: `stdout` / `stderr` events carrying {"text"}, then one `result` event (this body) or one `error` event ({"error", "code", "status"}).',
        },
      },
    },
    errors: [...TERMINAL_EXEC_ERRORS, ...PLACEMENT, "account_session_limit", "session_not_found", "disk_full"],
  },
  {
    method: "post",
    path: "/api/v1/tasks",
    operationId: "createTask",
    summary: "Runs a capability as a task: sync, async, or auto (wait up to wait_ms, then 202).",
    tag: "tasks",
    auth: "bearer",
    body: taskCreateDoc,
    answers: {
      200: task("The task succeeded; `result` holds the capability's result."),
      202: pending("The task is still running; poll status_url."),
      409: {
        description: "Canceled, or request_id is in use by an unfinished task.",
        schema: z.union([taskBodySchema, taskConflictSchema]),
      },
      429: task("The task failed before it ran (no capacity, or the account's run limit)."),
      502: task("The task failed behind the console; error.code says why."),
      503: task("The task failed: no worker offers the capability."),
      504: task("The task's deadline passed."),
    },
    errors: ["conflict"],
  },
  {
    method: "get",
    path: "/api/v1/tasks/{id}",
    operationId: "getTask",
    summary: "A task of the token's account (another account's looks exactly like a missing one).",
    tag: "tasks",
    auth: "bearer",
    answers: { 200: task("The task, in whatever status it is.") },
    errors: ["not_found"],
  },
  {
    method: "post",
    path: "/api/v1/tasks/{id}/cancel",
    operationId: "cancelTask",
    summary: "Cancels an unfinished task.",
    tag: "tasks",
    auth: "bearer",
    answers: {
      200: task("Canceled."),
      409: task("The task had already finished; it is answered as it ended."),
    },
    errors: ["not_found"],
  },
  {
    method: "post",
    path: "/mcp",
    operationId: "mcp",
    summary: "The MCP endpoint (Streamable HTTP, stateless): one JSON-RPC request per POST.",
    tag: "mcp",
    auth: "bearer",
    rawBody: { mediaType: "application/json", description: "A JSON-RPC 2.0 message or batch (MCP)." },
    answers: {
      200: {
        description: "The JSON-RPC answer.",
        alternatives: {
          "application/json": "A JSON-RPC response.",
          "text/event-stream": "For a streaming tool call with a progressToken: progress notifications, then the response.",
        },
      },
      202: { description: "A notification was accepted." },
      400: { description: "Not JSON: a JSON-RPC parse error (-32700)." },
      403: { description: "A browser Origin that may not call this endpoint: a JSON-RPC error (-32000)." },
      413: { description: "The body is over 4 MiB: a JSON-RPC error (-32600)." },
    },
    errors: [],
  },
  {
    method: "get",
    path: "/mcp",
    operationId: "mcpStream",
    summary: "Always 405 with Allow: POST: the endpoint is stateless and offers no server-to-client stream.",
    tag: "mcp",
    auth: "none",
    answers: {},
    errors: ["method_not_allowed"],
  },
  {
    method: "delete",
    path: "/api/v1/console/sessions/{id}",
    operationId: "endConsoleSession",
    summary: "Ends one of the signed-in account's sessions (the dashboard's End button): its container is removed.",
    tag: "console",
    auth: "session",
    answers: { 204: { description: "Ended." } },
    errors: ["session_not_found", ...PLACEMENT],
  },
  {
    method: "get",
    path: "/api/v1/tasks/{id}/events",
    operationId: "taskEvents",
    summary: "Live output of a task as Server-Sent Events (replayed from the start), then `done` with the task.",
    tag: "tasks",
    auth: "bearer",
    answers: {
      200: {
        description: "An event stream.",
        alternatives: {
          "text/event-stream":
            "`event: output` with `{stream, data}` as the program writes, then one `event: done` with the task body.",
        },
      },
    },
    errors: ["not_found"],
  },
  {
    method: "post",
    path: "/api/v1/sessions",
    operationId: "createSession",
    summary: "Opens a session (a container on a worker) for terminalExec, stateful pythonExec and files.",
    tag: "sessions",
    auth: "bearer",
    body: createSessionRequest,
    answers: { 201: { description: "The new session.", schema: sessionView } },
    errors: ["account_session_limit", ...PLACEMENT],
  },
  {
    method: "get",
    path: "/api/v1/sessions",
    operationId: "listSessions",
    summary: "The token's account's live sessions.",
    tag: "sessions",
    auth: "bearer",
    answers: { 200: { description: "Live sessions.", schema: z.object({ items: z.array(sessionView) }) } },
    errors: [],
  },
  {
    method: "get",
    path: "/api/v1/sessions/{id}",
    operationId: "getSession",
    summary: "One session (another account's looks exactly like a missing one).",
    tag: "sessions",
    auth: "bearer",
    answers: { 200: { description: "The session.", schema: sessionView } },
    errors: ["session_not_found"],
  },
  {
    method: "delete",
    path: "/api/v1/sessions/{id}",
    operationId: "deleteSession",
    summary: "Ends a session; its container is removed.",
    tag: "sessions",
    auth: "bearer",
    answers: { 204: { description: "Ended." } },
    errors: ["session_not_found", ...PLACEMENT],
  },
  {
    method: "put",
    path: "/api/v1/sessions/{id}/files",
    operationId: "writeSessionFile",
    summary: "Writes the raw body to a file in the session's container (parents created; streamed, never whole in memory).",
    tag: "sessions",
    auth: "bearer",
    query: fileQuery,
    rawBody: { mediaType: "application/octet-stream", description: "The file's bytes." },
    answers: { 200: { description: "Written.", schema: fileWriteResult } },
    errors: [...SESSION_FILES_ERRORS, ...PLACEMENT],
  },
  {
    method: "get",
    path: "/api/v1/sessions/{id}/files",
    operationId: "readSessionFile",
    summary: "The raw bytes of a file in the session's container, with a sniffed content-type.",
    tag: "sessions",
    auth: "bearer",
    query: fileQuery,
    answers: { 200: { description: "The file.", alternatives: { "application/octet-stream": "The file's bytes." } } },
    errors: [...SESSION_FILES_ERRORS, ...PLACEMENT],
  },
  {
    method: "delete",
    path: "/api/v1/sessions/{id}/files",
    operationId: "deleteSessionFile",
    summary: "Deletes a file in the session's container.",
    tag: "sessions",
    auth: "bearer",
    query: fileQuery,
    answers: { 204: { description: "Deleted." } },
    errors: [...SESSION_FILES_ERRORS, ...PLACEMENT],
  },
  {
    method: "get",
    path: "/api/v1/sessions/{id}/files/list",
    operationId: "listSessionFiles",
    summary: "The entries of a directory in the session's container.",
    tag: "sessions",
    auth: "bearer",
    query: listQuery,
    answers: { 200: { description: "The directory's entries.", schema: fileListResult } },
    errors: [...SESSION_FILES_ERRORS, ...PLACEMENT],
  },
];
