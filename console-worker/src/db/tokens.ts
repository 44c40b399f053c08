import { and, count, desc, eq } from "drizzle-orm";
import type { AuthAccount } from "../app-env.ts";
import { AppError } from "../lib/errors.ts";
import { toAuthAccount } from "./accounts.ts";
import { type Db, isUniqueViolation } from "./client.ts";
import { accounts, tokens } from "./schema.ts";

export type TokenRow = typeof tokens.$inferSelect;

/** The case-insensitive key token names are unique on (per account). */
export function tokenNameKey(name: string): string {
  return name.toLowerCase();
}

/** An account's tokens, newest first, with the total. */
export async function listTokens(db: Db, accountId: string): Promise<{ items: TokenRow[]; total: number }> {
  const [items, totals] = await db.batch([
    db.select().from(tokens).where(eq(tokens.accountId, accountId)).orderBy(desc(tokens.createdAt), desc(tokens.id)),
    db.select({ n: count() }).from(tokens).where(eq(tokens.accountId, accountId)),
  ]);
  return { items, total: totals[0]?.n ?? 0 };
}

/** True when the account already has a token with this name (any case). */
export async function tokenNameTaken(db: Db, accountId: string, name: string): Promise<boolean> {
  const row = await db.query.tokens.findFirst({
    columns: { id: true },
    where: and(eq(tokens.accountId, accountId), eq(tokens.nameKey, tokenNameKey(name))),
  });
  return row !== undefined;
}

/** True when some token (of any account) already has this hash. */
export async function tokenHashTaken(db: Db, tokenHash: string): Promise<boolean> {
  const row = await db.query.tokens.findFirst({ columns: { id: true }, where: eq(tokens.tokenHash, tokenHash) });
  return row !== undefined;
}

/** Inserts a token; a duplicate name or value (also one that races in) becomes a 409. */
export async function insertToken(db: Db, row: TokenRow): Promise<void> {
  try {
    await db.insert(tokens).values(row);
  } catch (err) {
    if (isUniqueViolation(err, "token_hash")) throw new AppError("conflict", "token value already in use");
    if (isUniqueViolation(err, "name_key")) throw new AppError("conflict", "token name already exists");
    throw err;
  }
}

/** Deletes an account's token; false when it does not exist or belongs to someone else. */
export async function deleteToken(db: Db, accountId: string, id: string): Promise<boolean> {
  const deleted = await db
    .delete(tokens)
    .where(and(eq(tokens.id, id), eq(tokens.accountId, accountId)))
    .returning({ id: tokens.id });
  return deleted.length > 0;
}

/** The token id and owning account for a token hash, or undefined. */
export async function findTokenAccount(
  db: Db,
  tokenHash: string,
): Promise<{ tokenId: string; account: AuthAccount } | undefined> {
  const rows = await db
    .select({ tokenId: tokens.id, id: accounts.id, username: accounts.username, isAdmin: accounts.isAdmin })
    .from(tokens)
    .innerJoin(accounts, eq(accounts.id, tokens.accountId))
    .where(eq(tokens.tokenHash, tokenHash))
    .limit(1);
  const row = rows[0];
  return row ? { tokenId: row.tokenId, account: toAuthAccount(row) } : undefined;
}
