const encoder = new TextEncoder();
const keyCache = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keyCache.set(secret, key);
  }
  return key;
}

/** Hex HMAC-SHA256 of `value` under the console hash key: how tokens, worker secrets and session ids are stored. */
export async function hmacHex(hashKey: string, value: string): Promise<string> {
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(hashKey), encoder.encode(value));
  return toHex(new Uint8Array(sig));
}

/** The bytes of a base64 text (atob's alphabet; anything else throws). */
export function fromBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** `n` random bytes as lowercase hex. */
export function randomHex(n: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(n)));
}

/** An opaque id with a type prefix, e.g. `tok_3f9a…`. */
export function newId(prefix: "acc" | "tok" | "task" | "sess" | "cmd"): string {
  return `${prefix}_${randomHex(12)}`;
}

/** Compares two strings without an early exit, so timing does not reveal the common prefix. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = encoder.encode(a);
  const bb = encoder.encode(b);
  let diff = ab.length ^ bb.length;
  const n = Math.max(ab.length, bb.length);
  for (let i = 0; i < n; i++) diff |= (ab[i] ?? 0) ^ (bb[i] ?? 0);
  return diff === 0;
}
