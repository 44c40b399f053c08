import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { getConfig } from "../lib/config.ts";
import { constantTimeEqual, hmacHex } from "../lib/crypto.ts";
import { AppError } from "../lib/errors.ts";
import { workerNodeStub } from "../objects/worker-node.ts";
import { CONNECT_PATH } from "../rpc/envelope.ts";

/** Header names a worker presents its credential in at the WebSocket upgrade. */
export const WORKER_ID_HEADER = "x-onlyboxes-worker-id";

/**
 * The worker wire's entry: checks the worker id and secret (HMAC lookup in D1) before the
 * socket reaches the node's Durable Object. Secret in `Authorization: Bearer <secret>`.
 */
export const rpcRoutes = new Hono<AppEnv>().get(CONNECT_PATH, async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new AppError("invalid_argument", "this endpoint expects a WebSocket upgrade carrying Connect envelopes");
  }
  // The same trimmed key the credential was stored under (a pasted key often ends in a newline).
  const { hashKey } = getConfig(c.env);
  const nodeId = c.req.header(WORKER_ID_HEADER) ?? "";
  const auth = c.req.header("authorization") ?? "";
  const secret = auth.startsWith("Bearer ") ? auth.slice(7).trim() : "";
  if (!nodeId || !secret || nodeId.length > 128 || secret.length > 512) {
    throw new AppError("unauthenticated", "worker id and secret are required");
  }
  const row = await c.env.DB.prepare("SELECT secret_hash FROM workers WHERE node_id = ?")
    .bind(nodeId)
    .first<{ secret_hash: string }>();
  const presented = await hmacHex(hashKey, secret);
  // Compare even when the row is missing so timing says nothing about which ids exist.
  const ok = constantTimeEqual(presented, row?.secret_hash ?? "0".repeat(64)) && row !== null;
  if (!ok) throw new AppError("unauthenticated", "invalid worker credential");
  const headers = new Headers(c.req.raw.headers);
  headers.set("x-onlyboxes-node-id", nodeId);
  headers.delete("authorization");
  return workerNodeStub(c.env, nodeId).fetch(new Request(c.req.raw.url, { headers, method: "GET" }));
});
