// The hash key protects every stored token and worker secret: CONSOLE_HASH_KEY, else one
// generated once and kept in the data directory.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/** Answers the hash key to run with, generating and saving one (with a warning) on first start. */
export function loadHashKey(env, dataDir, warn) {
  const fromEnv = env.CONSOLE_HASH_KEY?.trim();
  if (fromEnv) return fromEnv;
  const file = path.join(dataDir, "hash-key");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const key = randomBytes(32).toString("hex");
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  warn(
    `CONSOLE_HASH_KEY is not set; generated one and kept it in ${file}. Back it up: without it, every token and worker secret stops working.`,
  );
  return key;
}
