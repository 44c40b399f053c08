// The console's D1 migrations (console-worker/migrations), applied in file-name order and
// recorded in the same `d1_migrations` table `wrangler d1 migrations apply` uses.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** The migration files of `dir` in order, each split into its statements (drizzle-kit's breakpoints). */
export function readMigrations(dir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .map((name) => ({
      name,
      statements: readFileSync(path.join(dir, name), "utf8")
        .split("--> statement-breakpoint")
        .map((s) => s.trim())
        .filter(Boolean),
    }));
}

/**
 * Applies the migrations `db` (a D1 binding) has not recorded yet, each file in one batch
 * (all or nothing) together with its record. Answers the names it applied.
 */
export async function applyMigrations(db, migrations) {
  await db
    .prepare(
      "CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .run();
  const applied = new Set((await db.prepare("SELECT name FROM d1_migrations").all()).results.map((r) => r.name));
  const done = [];
  for (const m of migrations) {
    if (applied.has(m.name)) continue;
    await db.batch([
      ...m.statements.map((s) => db.prepare(s)),
      db.prepare("INSERT INTO d1_migrations (name) VALUES (?)").bind(m.name),
    ]);
    done.push(m.name);
  }
  return done;
}
