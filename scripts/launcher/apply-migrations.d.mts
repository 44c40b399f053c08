/** One migration file: its name and its SQL statements in order. */
export interface Migration {
  name: string;
  statements: readonly string[];
}

/** Applies the migrations `db` has not recorded yet (see apply-migrations.mjs); answers the names it applied. */
export function applyMigrations(db: D1Database, migrations: readonly Migration[]): Promise<string[]>;
