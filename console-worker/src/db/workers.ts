import { count, desc, eq, sql } from "drizzle-orm";
import type { Db } from "./client.ts";
import { workers } from "./schema.ts";

export type WorkerRow = typeof workers.$inferSelect;
export type WorkerStatusFilter = "all" | "online" | "offline";

/** One page of registered workers, newest registration first, with the total for the filter. */
export async function listWorkers(
  db: Db,
  q: { page: number; pageSize: number; status: WorkerStatusFilter },
): Promise<{ items: WorkerRow[]; total: number }> {
  const where = q.status === "all" ? undefined : eq(workers.status, q.status);
  const [items, totals] = await db.batch([
    db
      .select()
      .from(workers)
      .where(where)
      .orderBy(desc(workers.registeredAt), desc(workers.nodeId))
      .limit(q.pageSize)
      .offset((q.page - 1) * q.pageSize),
    db.select({ n: count() }).from(workers).where(where),
  ]);
  return { items, total: totals[0]?.n ?? 0 };
}

export interface WorkerCounts {
  total: number;
  online: number;
  offline: number;
  stale: number;
}

/** Counts workers by status; `stale` = online but not seen since `staleBefore` (unix ms). */
export async function countWorkers(db: Db, staleBefore: number): Promise<WorkerCounts> {
  const rows = await db
    .select({
      total: count(),
      online: sql<number>`coalesce(sum(case when ${workers.status} = 'online' then 1 else 0 end), 0)`,
      stale: sql<number>`coalesce(sum(case when ${workers.status} = 'online' and (${workers.lastSeenAt} is null or ${workers.lastSeenAt} < ${staleBefore}) then 1 else 0 end), 0)`,
    })
    .from(workers);
  const r = rows[0];
  const total = r?.total ?? 0;
  const online = Number(r?.online ?? 0);
  return { total, online, offline: total - online, stale: Number(r?.stale ?? 0) };
}

/** Registers a new worker credential. */
export async function insertWorker(
  db: Db,
  w: { nodeId: string; secretHash: string; now: number; createdBy: string },
): Promise<void> {
  await db.insert(workers).values({ nodeId: w.nodeId, secretHash: w.secretHash, registeredAt: w.now, createdBy: w.createdBy });
}

/** Deletes a worker (and so its credential); false when unknown. */
export async function deleteWorker(db: Db, nodeId: string): Promise<boolean> {
  const deleted = await db.delete(workers).where(eq(workers.nodeId, nodeId)).returning({ nodeId: workers.nodeId });
  return deleted.length > 0;
}

/**
 * Registers a worker credential under a fixed node id, or replaces the stored secret hash
 * when the id exists (the self-host launcher's local worker keeps its id across starts).
 */
export async function upsertWorkerCredential(
  db: Db,
  w: { nodeId: string; secretHash: string; nodeName: string; now: number },
): Promise<void> {
  await db
    .insert(workers)
    .values({ nodeId: w.nodeId, secretHash: w.secretHash, nodeName: w.nodeName, registeredAt: w.now })
    .onConflictDoUpdate({ target: workers.nodeId, set: { secretHash: w.secretHash } });
}
