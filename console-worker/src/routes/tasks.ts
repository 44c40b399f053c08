import {
  CAPABILITY_CONTRACTS,
  CAPABILITY_NAMES,
  type CapabilityName,
  type ErrorBody,
  EXEC_TIMEOUT_MS,
  failedTaskStatus,
  intBetween,
  isCapabilityName,
} from "@onlyboxes/proto";
import { and, eq } from "drizzle-orm";
import { type Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod/v4";
import type { AppEnv } from "../app-env.ts";
import { getDb } from "../db/client.ts";
import { tasks } from "../db/schema.ts";
import { newId } from "../lib/crypto.ts";
import { AppError, isErrorCode } from "../lib/errors.ts";
import { parseJsonBody, validate } from "../lib/validate.ts";
import { requireBearer } from "../middleware/bearer.ts";
import { isTerminalStatus, type TaskRow, taskObject } from "../objects/task.ts";

/** `wait_ms` of an auto-mode task: how long the request waits before answering 202. */
export const WAIT_MS = { min: 1, default: 1_500, max: 60_000 } as const;
/** `timeout_ms` of a task: the deadline of the whole task. */
export const TASK_TIMEOUT_MS = EXEC_TIMEOUT_MS;
/** A sync request waits this long past the deadline for the Task object to record the outcome. */
const SYNC_SLACK_MS = 5_000;
const REQUEST_ID_MAX = 128;

export const createTaskBody = z.strictObject({
  capability: z.string({ error: (iss) => (iss.input === undefined ? "is required" : "must be a string") }),
  input: z.unknown(),
  mode: z.enum(["sync", "async", "auto"], { error: "must be sync, async or auto" }).default("auto"),
  wait_ms: intBetween(WAIT_MS.min, WAIT_MS.max).default(WAIT_MS.default),
  timeout_ms: intBetween(TASK_TIMEOUT_MS.min, TASK_TIMEOUT_MS.max).default(TASK_TIMEOUT_MS.default),
  request_id: z
    .string({ error: "must be a string" })
    .trim()
    .min(1, "must not be blank")
    .max(REQUEST_ID_MAX, `must be at most ${REQUEST_ID_MAX} characters`)
    .nullish(),
});

/** The task as clients see it (the contract's field names, RFC3339 times). */
export interface TaskBody {
  task_id: string;
  request_id: string | null;
  command_id: string;
  capability: string;
  status: TaskRow["status"];
  result?: unknown;
  error?: { code: string; message: string };
  created_at: string;
  updated_at: string;
  deadline_at: string;
  completed_at?: string;
  status_url?: string;
}

function statusUrl(taskId: string): string {
  return `/api/v1/tasks/${encodeURIComponent(taskId)}`;
}

/** Formats a task row for clients; unfinished tasks carry the URL to poll. */
export function toTaskBody(row: TaskRow): TaskBody {
  const body: TaskBody = {
    task_id: row.id,
    request_id: row.requestId,
    command_id: row.commandId,
    capability: row.capability,
    status: row.status,
    created_at: new Date(row.createdAt).toISOString(),
    updated_at: new Date(row.updatedAt).toISOString(),
    deadline_at: new Date(row.deadlineAt).toISOString(),
  };
  if (row.result !== null) body.result = JSON.parse(row.result) as unknown;
  if (row.errorCode !== null) body.error = { code: row.errorCode, message: row.errorMessage ?? row.errorCode };
  if (row.completedAt !== null) body.completed_at = new Date(row.completedAt).toISOString();
  if (!isTerminalStatus(row.status)) body.status_url = statusUrl(row.id);
  return body;
}

/** The HTTP status of a task answer: 202 running, 200 succeeded, 409 canceled, 504 timeout, failed per the registry (429, 503, else 502). */
export function httpStatusOf(row: TaskRow): ContentfulStatusCode {
  switch (row.status) {
    case "queued":
    case "dispatched":
    case "running":
      return 202;
    case "succeeded":
      return 200;
    case "canceled":
      return 409;
    case "timeout":
      return 504;
    case "failed":
      return failedTaskStatus(row.errorCode !== null && isErrorCode(row.errorCode) ? row.errorCode : "internal");
  }
}

function respond(c: Context<AppEnv>, row: TaskRow, status = httpStatusOf(row)): Response {
  const headers: Record<string, string> = {};
  if (!isTerminalStatus(row.status)) headers.Location = statusUrl(row.id);
  return c.json(toTaskBody(row), status, headers);
}

/** The Task object that drives `row`'s task (its account's). */
export function taskStub(c: Context<AppEnv>, row: Pick<TaskRow, "accountId">) {
  return taskObject(c.env, row.accountId);
}

/** The caller's task by id; another account's is `not_found`, like a missing one. */
export async function findOwnTask(c: Context<AppEnv>, taskId: string): Promise<TaskRow> {
  const row = await getDb(c.env)
    .select()
    .from(tasks)
    .where(and(eq(tasks.id, taskId), eq(tasks.accountId, c.var.account.accountId)))
    .get();
  // Another account's task is indistinguishable from a missing one.
  if (!row) throw new AppError("not_found", "task not found");
  return row;
}

/** Checks a task's `input` against its capability's contract; problems become a 400 naming the field. */
function validateInput(capability: string, input: unknown): { capability: CapabilityName; payload: unknown } {
  if (!isCapabilityName(capability)) {
    throw new AppError("invalid_argument", `capability: must be one of ${CAPABILITY_NAMES.join(", ")}`);
  }
  if (input === undefined) throw new AppError("invalid_argument", "input: is required");
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new AppError("invalid_argument", "input: must be a JSON object");
  }
  try {
    return { capability, payload: validate(CAPABILITY_CONTRACTS[capability].input, input, "input") };
  } catch (err) {
    if (err instanceof AppError && "timeout_ms" in input) {
      throw new AppError(err.code, `${err.message} (set the task's timeout_ms instead)`);
    }
    throw err;
  }
}

/**
 * Starts the task in its Task object and waits up to `waitMs`; answers the row as it then
 * is. `insert`: the object inserts the row itself (see Task.start). When the start fails,
 * a row left queued is failed, so it never stays with nobody driving it.
 */
async function startTask(c: Context<AppEnv>, row: TaskRow, waitMs: number, insert: boolean): Promise<TaskRow> {
  try {
    const current = await taskStub(c, row).start(row, waitMs, { insert });
    return current ?? row;
  } catch (err) {
    await getDb(c.env)
      .update(tasks)
      .set({
        status: "failed",
        errorCode: "internal",
        errorMessage: "the task could not be started",
        updatedAt: Date.now(),
        completedAt: Date.now(),
      })
      .where(and(eq(tasks.id, row.id), eq(tasks.status, "queued")))
      // When D1 refuses this too, the start's own error is the one worth answering with.
      .catch(() => undefined);
    throw AppError.from(err);
  }
}

/** The async task API (bearer): create, poll and cancel tasks driven by Task objects. */
export const tasksRoutes = new Hono<AppEnv>()
  .use(requireBearer())
  .post("/", async (c) => {
    const body = await parseJsonBody(c, createTaskBody);
    const { capability, payload } = validateInput(body.capability, body.input);
    const accountId = c.var.account.accountId;
    const db = getDb(c.env);
    const now = Date.now();
    const row: TaskRow = {
      id: newId("task"),
      accountId,
      requestId: body.request_id ?? null,
      commandId: newId("cmd"),
      capability,
      status: "queued",
      input: JSON.stringify(payload),
      result: null,
      errorCode: null,
      errorMessage: null,
      createdAt: now,
      updatedAt: now,
      deadlineAt: now + body.timeout_ms,
      completedAt: null,
    };
    const waitMs = body.mode === "async" ? 0 : body.mode === "auto" ? body.wait_ms : body.timeout_ms + SYNC_SLACK_MS;
    if (row.requestId === null) {
      // Nothing to deduplicate: the Task object inserts the row while the run starts.
      return respond(c, await startTask(c, row, waitMs, true));
    }
    // The unique (account, request_id) index makes the dedupe atomic across requests.
    const inserted = await db.insert(tasks).values(row).onConflictDoNothing().returning();
    if (inserted.length === 0) {
      const existing = await db
        .select()
        .from(tasks)
        .where(and(eq(tasks.accountId, accountId), eq(tasks.requestId, row.requestId)))
        .get();
      if (!existing) throw new AppError("conflict", "request_id is in use; retry");
      if (!isTerminalStatus(existing.status)) {
        const busy: ErrorBody & { task_id: string; status_url: string } = {
          error: `request_id "${row.requestId}" is already in use by task ${existing.id}, which is still ${existing.status}`,
          code: "conflict",
          task_id: existing.id,
          status_url: statusUrl(existing.id),
        };
        return c.json(busy, 409);
      }
      return respond(c, existing);
    }
    return respond(c, await startTask(c, row, waitMs, false));
  })
  .get("/:id", async (c) => {
    const row = await findOwnTask(c, c.req.param("id"));
    return c.json(toTaskBody(row), 200);
  })
  .post("/:id/cancel", async (c) => {
    const row = await findOwnTask(c, c.req.param("id"));
    if (isTerminalStatus(row.status)) return c.json(toTaskBody(row), 409);
    const res = await taskStub(c, row).cancel(row.id);
    const now = res.row ?? row;
    return c.json(toTaskBody(now), res.canceled ? 200 : 409);
  });
