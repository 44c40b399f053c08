import { eq } from "drizzle-orm";
import type { AuthAccount } from "../app-env.ts";
import { AppError } from "../lib/errors.ts";
import type { PasswordHash } from "../lib/passwords.ts";
import { type Db, isUniqueViolation } from "./client.ts";
import { accounts } from "./schema.ts";

export type AccountRow = typeof accounts.$inferSelect;

/** The case-insensitive key usernames are unique on. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}

/** The account as middleware hands it to handlers. */
export function toAuthAccount(row: Pick<AccountRow, "id" | "username" | "isAdmin">): AuthAccount {
  return { accountId: row.id, username: row.username, isAdmin: row.isAdmin };
}

/** Finds an account by username, ignoring case. */
export async function findAccountByUsername(db: Db, username: string): Promise<AccountRow | undefined> {
  return db.query.accounts.findFirst({ where: eq(accounts.usernameKey, usernameKey(username)) });
}

export interface NewAccount {
  id: string;
  username: string;
  password: PasswordHash;
  isAdmin: boolean;
  now: number;
}

function toRow(a: NewAccount): AccountRow {
  return {
    id: a.id,
    username: a.username,
    usernameKey: usernameKey(a.username),
    passwordHash: a.password.hash,
    passwordSalt: a.password.salt,
    passwordIterations: a.password.iterations,
    isAdmin: a.isAdmin,
    createdAt: a.now,
    updatedAt: a.now,
  };
}

/** Inserts an account; a taken username (any case) becomes a 409. */
export async function insertAccount(db: Db, account: NewAccount): Promise<AccountRow> {
  const row = toRow(account);
  try {
    await db.insert(accounts).values(row);
  } catch (err) {
    if (isUniqueViolation(err, "username_key")) throw new AppError("conflict", "username already exists");
    throw err;
  }
  return row;
}

/**
 * Inserts `account` only if the accounts table is empty, in one statement, so two
 * isolates starting at once cannot both create a first admin (D1 runs statements one at a
 * time). Returns whether this call created it.
 */
export async function insertFirstAccount(d1: D1Database, account: NewAccount): Promise<boolean> {
  const r = toRow(account);
  const result = await d1
    .prepare(
      `INSERT INTO accounts (id, username, username_key, password_hash, password_salt, password_iterations, is_admin, created_at, updated_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
       WHERE NOT EXISTS (SELECT 1 FROM accounts)
       ON CONFLICT DO NOTHING`,
    )
    .bind(
      r.id,
      r.username,
      r.usernameKey,
      r.passwordHash,
      r.passwordSalt,
      r.passwordIterations,
      r.isAdmin ? 1 : 0,
      r.createdAt,
      r.updatedAt,
    )
    .run();
  return result.meta.changes > 0;
}

/** Replaces an account's stored password hash (same password, e.g. a new iteration count). */
export async function updatePasswordHash(db: Db, id: string, password: PasswordHash, now: number): Promise<void> {
  await db
    .update(accounts)
    .set({
      passwordHash: password.hash,
      passwordSalt: password.salt,
      passwordIterations: password.iterations,
      updatedAt: now,
    })
    .where(eq(accounts.id, id));
}

/** True when at least one account exists. */
export async function hasAnyAccount(d1: D1Database): Promise<boolean> {
  const row = await d1.prepare("SELECT 1 AS one FROM accounts LIMIT 1").first<{ one: number }>();
  return row !== null;
}
