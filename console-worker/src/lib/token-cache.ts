import type { AuthAccount } from "../app-env.ts";

/**
 * A short-lived, per-isolate memory of recent bearer-token lookups, so a burst of calls
 * with the same token pays the D1 lookup once. Only successful lookups are kept; a
 * deleted token is dropped at once in the isolate that deleted it and, in any other
 * isolate (Cloudflare runs many), stops working within TTL_MS.
 */
const TTL_MS = 5_000;
const MAX_ENTRIES = 1_000;

interface Entry {
  account: AuthAccount;
  tokenId: string;
  expiresAt: number;
}

const entries = new Map<string, Entry>();

/** The cached owner of a token hash, if looked up within the last TTL_MS. */
export function cachedToken(tokenHash: string): { account: AuthAccount; tokenId: string } | undefined {
  const e = entries.get(tokenHash);
  if (!e) return undefined;
  if (e.expiresAt <= Date.now()) {
    entries.delete(tokenHash);
    return undefined;
  }
  return e;
}

/** Remembers a successful lookup. */
export function rememberToken(tokenHash: string, account: AuthAccount, tokenId: string): void {
  if (entries.size >= MAX_ENTRIES) {
    // Maps iterate in insertion order: drop the oldest entry.
    const oldest = entries.keys().next();
    if (!oldest.done) entries.delete(oldest.value);
  }
  entries.set(tokenHash, { account, tokenId, expiresAt: Date.now() + TTL_MS });
}

/** Forgets a token (by id) at once, e.g. when it is deleted. */
export function forgetToken(tokenId: string): void {
  for (const [hash, e] of entries) if (e.tokenId === tokenId) entries.delete(hash);
}
