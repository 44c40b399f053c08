// Applies the console's D1 migrations to a D1 binding. Kept apart from migrations.mjs (which
// reads the files with node:fs) so that the bare-workerd control worker
// (console-worker/src/selfhost/control.ts) bundles this same code.

/**
 * Applies the migrations `db` (a D1 binding) has not recorded yet, each file in one batch
 * (all or nothing) together with its record in `d1_migrations`, the table
 * `wrangler d1 migrations apply` uses. Answers the names it applied.
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
