import { constantTimeEqual, fromBase64 } from "./crypto.ts";

/** A stored password: PBKDF2-HMAC-SHA256 digest and salt (base64) with the iteration count used. */
export interface PasswordHash {
  hash: string;
  salt: string;
  iterations: number;
}

const encoder = new TextEncoder();
const DIGEST_BITS = 256;
const SALT_BYTES = 16;

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, DIGEST_BITS);
  return new Uint8Array(bits);
}

/**
 * Hashes a password with a fresh random salt. The iteration count is returned so it can be
 * stored beside the hash: raising it later does not invalidate existing passwords.
 * (Cloudflare's runtime refuses more than 100,000 iterations per derivation.)
 */
export async function hashPassword(password: string, iterations: number): Promise<PasswordHash> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const digest = await derive(password, salt, iterations);
  return { hash: toBase64(digest), salt: toBase64(salt), iterations };
}

/** Checks a password against a stored hash, comparing digests in constant time. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const digest = await derive(password, fromBase64(stored.salt), stored.iterations);
  return constantTimeEqual(toBase64(digest), stored.hash);
}

/**
 * Spends the same work as a real check when the username does not exist, so the response
 * time does not tell an attacker which usernames are taken.
 */
export async function burnPasswordCheck(password: string, iterations: number): Promise<void> {
  await derive(password, new Uint8Array(SALT_BYTES), iterations);
}
