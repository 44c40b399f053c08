/**
 * The table wrangler (and the self-host launcher) record applied D1 migrations in. It is
 * not part of the drizzle schema: the migrations create everything else, not this table.
 */

/** True when the migration file `name` is recorded as applied; false while the table does not exist yet. */
export async function isMigrationApplied(db: D1Database, name: string): Promise<boolean> {
  try {
    const row = await db.prepare("SELECT 1 AS ok FROM d1_migrations WHERE name = ?").bind(name).first<{ ok: number }>();
    return row !== null;
  } catch (err) {
    if (err instanceof Error && /no such table/.test(err.message)) return false;
    throw err;
  }
}
