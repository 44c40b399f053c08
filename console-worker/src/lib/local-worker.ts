import { getDb } from "../db/client.ts";
import { upsertWorkerCredential } from "../db/workers.ts";
import type { Env } from "../env.ts";
import { getConfig } from "./config.ts";
import { hmacHex } from "./crypto.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Registers the self-host launcher's local worker from CONSOLE_LOCAL_WORKER_ID and
 * CONSOLE_LOCAL_WORKER_SECRET, hashed the way every worker secret is. Run by the boot
 * event, so the launcher never writes the workers table itself. Idempotent: a start with
 * the same credential changes nothing; a deleted local worker is registered again.
 * Answers whether a credential was given.
 */
export async function provisionLocalWorker(env: Env, now = Date.now()): Promise<boolean> {
  const nodeId = env.CONSOLE_LOCAL_WORKER_ID?.trim();
  const secret = env.CONSOLE_LOCAL_WORKER_SECRET?.trim();
  if (!nodeId || !secret) return false;
  if (!UUID.test(nodeId)) throw new Error("CONSOLE_LOCAL_WORKER_ID must be a UUID");
  await upsertWorkerCredential(getDb(env), {
    nodeId,
    secretHash: await hmacHex(getConfig(env).hashKey, secret),
    nodeName: "local",
    now,
  });
  return true;
}
