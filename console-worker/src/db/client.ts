import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import type { Env } from "../env.ts";
import * as schema from "./schema.ts";

/** The drizzle handle every query helper takes. */
export type Db = DrizzleD1Database<typeof schema>;

// One drizzle wrapper per D1 binding: building it is cheap, but there is no reason to
// rebuild it on every request of the isolate.
const cache = new WeakMap<D1Database, Db>();

/** Returns the drizzle client for the console's D1 database (`env.DB`). */
export function getDb(env: Pick<Env, "DB">): Db {
  let db = cache.get(env.DB);
  if (!db) {
    db = drizzle(env.DB, { schema });
    cache.set(env.DB, db);
  }
  return db;
}

/**
 * True when `err` (or any error in its `cause` chain) is a SQLite UNIQUE violation,
 * optionally on a column list such as `tokens.token_hash`. D1 reports these as
 * `UNIQUE constraint failed: <table>.<col>[, <table>.<col>]`; drizzle wraps them.
 */
export function isUniqueViolation(err: unknown, columns?: string): boolean {
  let cur: unknown = err;
  for (let depth = 0; cur instanceof Error && depth < 5; depth++) {
    const m = /UNIQUE constraint failed: ([^:]+)/.exec(cur.message);
    if (m?.[1] !== undefined) return columns === undefined || m[1].includes(columns);
    cur = cur.cause;
  }
  return false;
}
