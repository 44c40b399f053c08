import { and, eq, gt, lt } from "drizzle-orm";
import type { AuthAccount } from "../app-env.ts";
import { toAuthAccount } from "./accounts.ts";
import type { Db } from "./client.ts";
import { accounts, dashboardSessions } from "./schema.ts";

/** Stores a dashboard session by the HMAC of its id. */
export async function insertDashboardSession(
  db: Db,
  s: { idHash: string; accountId: string; now: number; ttlMs: number },
): Promise<void> {
  await db
    .insert(dashboardSessions)
    .values({ idHash: s.idHash, accountId: s.accountId, createdAt: s.now, expiresAt: s.now + s.ttlMs });
}

/** The account signed in with this session, or undefined when unknown or expired. */
export async function findSessionAccount(db: Db, idHash: string, now: number): Promise<AuthAccount | undefined> {
  const rows = await db
    .select({ id: accounts.id, username: accounts.username, isAdmin: accounts.isAdmin })
    .from(dashboardSessions)
    .innerJoin(accounts, eq(accounts.id, dashboardSessions.accountId))
    .where(and(eq(dashboardSessions.idHash, idHash), gt(dashboardSessions.expiresAt, now)))
    .limit(1);
  const row = rows[0];
  return row ? toAuthAccount(row) : undefined;
}

/** Ends one session (logout). */
export async function deleteDashboardSession(db: Db, idHash: string): Promise<void> {
  await db.delete(dashboardSessions).where(eq(dashboardSessions.idHash, idHash));
}

/** Drops expired sessions so the table does not grow without bound. */
export async function deleteExpiredDashboardSessions(db: Db, now: number): Promise<void> {
  await db.delete(dashboardSessions).where(lt(dashboardSessions.expiresAt, now));
}
