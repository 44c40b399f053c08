import { and, eq, inArray, isNotNull, isNull, lt, or } from "drizzle-orm";
import { getDb } from "../db/client.ts";
import { tasks, workers } from "../db/schema.ts";
import type { Env } from "../env.ts";
import { ACTIVE_STATUSES } from "../objects/task.ts";
import { getConfig } from "./config.ts";

const DAY_MS = 86_400_000;
const TERMINAL_STATUSES = ["succeeded", "failed", "timeout", "canceled"] as const;

/** Deletes finished tasks completed more than `retentionDays` ago; returns how many went. */
export async function pruneFinishedTasks(db: D1Database, retentionDays: number, now = Date.now()): Promise<number> {
  const cutoff = now - retentionDays * DAY_MS;
  const deleted = await getDb({ DB: db })
    .delete(tasks)
    .where(and(inArray(tasks.status, [...TERMINAL_STATUSES]), isNotNull(tasks.completedAt), lt(tasks.completedAt, cutoff)))
    .returning({ id: tasks.id });
  return deleted.length;
}

/**
 * Marks every unfinished task created before `createdBefore` (default: now), and with
 * `deadlineBefore` only those whose deadline is older, `failed` with `console_restarted`.
 * Run once when a self-hosted console starts, with the boot time as `createdBefore` so
 * tasks of the new run are never touched: no run survives a restart, so without this
 * those tasks would look alive until their deadline. Returns how many it marked.
 */
export async function markUnfinishedTasksRestarted(
  db: D1Database,
  opts: { createdBefore?: number; deadlineBefore?: number; now?: number } = {},
): Promise<number> {
  const now = opts.now ?? Date.now();
  const updated = await getDb({ DB: db })
    .update(tasks)
    .set({
      status: "failed",
      errorCode: "console_restarted",
      errorMessage: "the console restarted before the task finished",
      updatedAt: now,
      completedAt: now,
    })
    .where(
      and(
        inArray(tasks.status, [...ACTIVE_STATUSES]),
        lt(tasks.createdAt, opts.createdBefore ?? now + 1),
        opts.deadlineBefore === undefined ? undefined : lt(tasks.deadlineAt, opts.deadlineBefore),
      ),
    )
    .returning({ id: tasks.id });
  return updated.length;
}

/** The event name the self-host launcher fires once at start (Cloudflare never fires it). */
export const BOOT_EVENT = "@boot";

/**
 * Start-of-run bookkeeping of a self-hosted console, for rows of the previous run only
 * (older than `bootStartedAt`): unfinished tasks become `console_restarted`, and workers
 * still marked online are offline until they reconnect (a worker that reconnected faster
 * than this ran has a newer last_seen_at and is left alone).
 */
export async function runBoot(env: Env, bootStartedAt: number): Promise<{ tasks: number; workers: number }> {
  const marked = await markUnfinishedTasksRestarted(env.DB, { createdBefore: bootStartedAt });
  const offline = await getDb(env)
    .update(workers)
    .set({ status: "offline" })
    .where(and(eq(workers.status, "online"), or(isNull(workers.lastSeenAt), lt(workers.lastSeenAt, bootStartedAt))))
    .returning({ nodeId: workers.nodeId });
  console.log(
    JSON.stringify({ level: "info", msg: "boot bookkeeping", component: "maintenance", tasks: marked, workers: offline.length }),
  );
  return { tasks: marked, workers: offline.length };
}

/**
 * A task still unfinished this long past its deadline has no object driving it: its Task
 * object lost the run before keeping a record of it (the first 150 ms of a run), which on
 * Cloudflare no boot bookkeeping catches.
 */
const ABANDONED_AFTER_MS = 3_600_000;

/**
 * The daily cron: prunes finished tasks older than CONSOLE_TASK_RETENTION_DAYS (30), and
 * ends tasks abandoned past their deadline as `console_restarted` (so their request_id is freed).
 */
export async function runScheduled(env: Env): Promise<void> {
  const days = getConfig(env).taskRetentionDays;
  const pruned = await pruneFinishedTasks(env.DB, days);
  const abandoned = await markUnfinishedTasksRestarted(env.DB, { deadlineBefore: Date.now() - ABANDONED_AFTER_MS });
  console.log(JSON.stringify({ level: "info", msg: "pruned finished tasks", component: "maintenance", pruned, days, abandoned }));
}
