// The console's D1 migrations (console-worker/migrations), read in file-name order;
// apply-migrations.mjs applies them.
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
