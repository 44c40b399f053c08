import { and, count, desc, eq, gt } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod/v4";
import type { AppEnv } from "../app-env.ts";
import { endSession } from "../capabilities/session-files.ts";
import { getDb } from "../db/client.ts";
import { tasks, terminalSessions } from "../db/schema.ts";
import { validate } from "../lib/validate.ts";
import { requireSession } from "../middleware/session.ts";
import { idParam } from "./sessions.ts";

const DEFAULT_TASK_LIMIT = 50;
const MAX_TASK_LIMIT = 200;
/** A page lists at most this many live sessions; `total` still counts them all. */
const MAX_SESSIONS = 200;

export const recentTasksQuery = z.object({
  limit: z
    .string()
    .regex(/^\d+$/, "must be an integer")
    .transform(Number)
    .pipe(z.number().int().min(1, "must be at least 1").max(MAX_TASK_LIMIT, `must be at most ${MAX_TASK_LIMIT}`))
    .optional()
    .transform((v) => v ?? DEFAULT_TASK_LIMIT),
});

function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Read-only views of the signed-in account's own activity for the dashboard:
 * `GET /tasks` (recent tasks) and `GET /sessions` (live terminal sessions). Mounted at
 * `/api/v1/console`. Each route carries its own session check rather than a `use("*")`,
 * because a wildcard middleware would also cover the sibling `/login` once mounted.
 */
export const activityRoutes = new Hono<AppEnv>();

activityRoutes.get("/tasks", requireSession(), async (c) => {
  const q = validate(recentTasksQuery, c.req.query());
  const db = getDb(c.env);
  const owner = eq(tasks.accountId, c.var.account.accountId);
  const [rows, totals] = await db.batch([
    db
      .select({
        id: tasks.id,
        requestId: tasks.requestId,
        capability: tasks.capability,
        status: tasks.status,
        errorCode: tasks.errorCode,
        createdAt: tasks.createdAt,
        updatedAt: tasks.updatedAt,
        completedAt: tasks.completedAt,
      })
      .from(tasks)
      .where(owner)
      .orderBy(desc(tasks.createdAt), desc(tasks.id))
      .limit(q.limit),
    db.select({ total: count() }).from(tasks).where(owner),
  ]);
  return c.json({
    items: rows.map((t) => ({
      task_id: t.id,
      request_id: t.requestId,
      capability: t.capability,
      status: t.status,
      error_code: t.errorCode,
      created_at: rfc3339(t.createdAt),
      updated_at: rfc3339(t.updatedAt),
      completed_at: t.completedAt === null ? null : rfc3339(t.completedAt),
      // Only finished tasks have a duration; the dashboard shows elapsed time for the rest.
      duration_ms: t.completedAt === null ? null : Math.max(0, t.completedAt - t.createdAt),
    })),
    total: totals[0]?.total ?? 0,
  });
});

activityRoutes.get("/sessions", requireSession(), async (c) => {
  const db = getDb(c.env);
  const live = and(eq(terminalSessions.accountId, c.var.account.accountId), gt(terminalSessions.leaseExpiresAt, Date.now()));
  const [rows, totals] = await db.batch([
    db
      .select()
      .from(terminalSessions)
      .where(live)
      .orderBy(desc(terminalSessions.lastUsedAt), desc(terminalSessions.id))
      .limit(MAX_SESSIONS),
    db.select({ total: count() }).from(terminalSessions).where(live),
  ]);
  return c.json({
    items: rows.map((s) => ({
      session_id: s.id,
      node_id: s.nodeId,
      created_at: rfc3339(s.createdAt),
      last_used_at: rfc3339(s.lastUsedAt),
      lease_expires_at: rfc3339(s.leaseExpiresAt),
    })),
    total: totals[0]?.total ?? 0,
  });
});

/** Ends one of the account's sessions from the dashboard (its container is removed); 404 when missing or another account's. */
activityRoutes.delete("/sessions/:id", requireSession(), async (c) => {
  await endSession(c.env, c.var.account.accountId, idParam(c));
  return c.body(null, 204);
});
