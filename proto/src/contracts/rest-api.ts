import { z } from "zod/v4";
import { ERROR_STATUS, type ErrorCode } from "./errors.ts";

/*
 * The answers of the console's REST API. The OpenAPI document (`GET /api/v1/openapi.json`)
 * embeds these schemas and the dashboard takes its types from them, so a field exists in
 * one place; the console's tests check real answers against them.
 */

const time = z.iso.datetime().describe("RFC 3339 time (UTC).");

/** Every code of the registry, for the `code` of an error body. */
export const errorCodeSchema = z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]);

/** `{ "error": message, "code": code }`: the body of every REST error. */
export const errorBodySchema = z.object({
  error: z.string().describe("What went wrong, for a human."),
  code: errorCodeSchema.describe("The registry code; its HTTP status is fixed."),
});

/** A console account as the API shows it. */
export const accountSchema = z.object({
  account_id: z.string(),
  username: z.string(),
  is_admin: z.boolean(),
});

/** Body of `POST /console/login` and `GET /console/session`. */
export const sessionInfoSchema = z.object({
  authenticated: z.boolean(),
  account: accountSchema,
  registration_enabled: z.boolean(),
  console_version: z.string(),
  console_repo_url: z.string(),
});

/** `POST /console/register`: the new account. */
export const registeredAccountSchema = z.object({
  account: accountSchema,
  created_at: time,
  updated_at: time,
});

/** An access token as listed: never its value. */
export const tokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  token_masked: z.string().describe("First and last four characters of the value."),
  created_at: time,
  updated_at: time,
});

/** `POST /console/tokens`: the token with its value, shown this once. */
export const createdTokenSchema = tokenSchema.extend({
  token: z.string().describe("The token's value; it cannot be read again."),
  generated: z.boolean().describe("True when the console chose the value."),
});

/** `GET /console/tokens`. */
export const tokenListSchema = z.object({ items: z.array(tokenSchema), total: z.int() });

/** A capability a worker offers and how many calls of it may run at once there. */
export const workerCapabilitySchema = z.object({ name: z.string(), max_inflight: z.int() });

/** Whether a worker is connected. */
export const workerStatusSchema = z.enum(["online", "offline"]);

/** A registered worker. */
export const workerItemSchema = z.object({
  node_id: z.string(),
  node_name: z.string(),
  executor_kind: z.string(),
  capabilities: z.array(workerCapabilitySchema),
  labels: z.record(z.string(), z.string()),
  version: z.string(),
  status: workerStatusSchema,
  registered_at: time,
  last_seen_at: time.describe("Last heartbeat; the registration time until the first one."),
});

/** `GET /workers`: one page of workers. */
export const workerPageSchema = z.object({
  items: z.array(workerItemSchema),
  total: z.int(),
  page: z.int(),
  page_size: z.int(),
});

/** `GET /workers/stats`. */
export const workerStatsSchema = z.object({
  total: z.int(),
  online: z.int(),
  offline: z.int(),
  stale: z.int().describe("Online, but silent for longer than stale_after_sec."),
  stale_after_sec: z.int(),
  generated_at: time,
});

/** One capability's load on one worker. */
export const inflightCapabilitySchema = z.object({ name: z.string(), inflight: z.int(), max_inflight: z.int() });

/** `GET /workers/inflight`. */
export const workerInflightSchema = z.object({
  workers: z.array(z.object({ node_id: z.string(), capabilities: z.array(inflightCapabilitySchema) })),
  generated_at: time,
});

/** `POST /workers`: the new worker's id and its start line (which holds the secret, shown once). */
export const createdWorkerSchema = z.object({
  node_id: z.string(),
  command: z.string().describe("A ready-to-paste start line with the worker's secret."),
});

/** Every status a task passes through; the last four are final. */
export const taskStatusSchema = z.enum(["queued", "dispatched", "running", "succeeded", "failed", "timeout", "canceled"]);

/** A task as `/api/v1/tasks` answers it. */
export const taskBodySchema = z.object({
  task_id: z.string(),
  request_id: z.string().nullable(),
  command_id: z.string(),
  capability: z.string(),
  status: taskStatusSchema,
  result: z.unknown().optional().describe("The capability's result, once succeeded."),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  created_at: time,
  updated_at: time,
  deadline_at: time,
  completed_at: time.optional(),
  status_url: z.string().optional().describe("Where to poll while the task is unfinished."),
});

/** `POST /tasks` with a `request_id` still in use by an unfinished task. */
export const taskConflictSchema = errorBodySchema.extend({ task_id: z.string(), status_url: z.string() });

/** A row of `GET /console/tasks`: the signed-in account's recent tasks. */
export const taskSummarySchema = z.object({
  task_id: z.string(),
  request_id: z.string().nullable(),
  capability: z.string(),
  status: taskStatusSchema,
  error_code: z.string().nullable(),
  created_at: time,
  updated_at: time,
  completed_at: time.nullable(),
  duration_ms: z.int().nullable(),
});

/** `GET /console/tasks`. */
export const taskSummaryListSchema = z.object({ items: z.array(taskSummarySchema), total: z.int() });

/** A row of `GET /console/sessions`: a live terminal session of the signed-in account. */
export const terminalSessionSummarySchema = z.object({
  session_id: z.string(),
  node_id: z.string(),
  created_at: time,
  last_used_at: time,
  lease_expires_at: time,
});

/** `GET /console/sessions`. */
export const terminalSessionListSchema = z.object({ items: z.array(terminalSessionSummarySchema), total: z.int() });

export type ErrorBodyJson = z.infer<typeof errorBodySchema>;
export type Account = z.infer<typeof accountSchema>;
export type SessionInfo = z.infer<typeof sessionInfoSchema>;
export type RegisteredAccount = z.infer<typeof registeredAccountSchema>;
export type Token = z.infer<typeof tokenSchema>;
export type CreatedToken = z.infer<typeof createdTokenSchema>;
export type TokenList = z.infer<typeof tokenListSchema>;
export type WorkerCapability = z.infer<typeof workerCapabilitySchema>;
export type WorkerStatus = z.infer<typeof workerStatusSchema>;
export type WorkerItem = z.infer<typeof workerItemSchema>;
export type WorkerPage = z.infer<typeof workerPageSchema>;
export type WorkerStats = z.infer<typeof workerStatsSchema>;
export type InflightCapability = z.infer<typeof inflightCapabilitySchema>;
export type WorkerInflight = z.infer<typeof workerInflightSchema>;
export type CreatedWorker = z.infer<typeof createdWorkerSchema>;
export type TaskStatus = z.infer<typeof taskStatusSchema>;
export type TaskJson = z.infer<typeof taskBodySchema>;
export type TaskSummary = z.infer<typeof taskSummarySchema>;
export type TaskSummaryList = z.infer<typeof taskSummaryListSchema>;
export type TerminalSessionSummary = z.infer<typeof terminalSessionSummarySchema>;
export type TerminalSessionList = z.infer<typeof terminalSessionListSchema>;
