import { type Context, Hono } from "hono";
import { z } from "zod/v4";
import type { AppEnv } from "../app-env.ts";
import { getDb } from "../db/client.ts";
import { countWorkers, deleteWorker, insertWorker, listWorkers, type WorkerRow } from "../db/workers.ts";
import { getConfig } from "../lib/config.ts";
import { hmacHex, randomHex } from "../lib/crypto.ts";
import { AppError } from "../lib/errors.ts";
import { parseJsonBody, validate } from "../lib/validate.ts";
import { csrfProtection } from "../middleware/csrf.ts";
import { requireSession } from "../middleware/session.ts";
import { nodeRegistryStub } from "../objects/node-registry.ts";

const MAX_PAGE_SIZE = 100;
const MAX_STALE_AFTER_SEC = 7 * 24 * 60 * 60;

/** A query-string integer: digits only, so "1.5", "-1" and "abc" are refused with a clear message. */
function queryInt(fallback: number, min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, "must be an integer")
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .optional()
    .transform((v) => v ?? fallback);
}

const listQuery = z.object({
  page: queryInt(1, 1, 1_000_000),
  page_size: queryInt(20, 1, MAX_PAGE_SIZE),
  status: z.enum(["all", "online", "offline"]).optional().default("all"),
});

const statsQuery = z.object({ stale_after_sec: queryInt(30, 1, MAX_STALE_AFTER_SEC) });

const createBody = z.strictObject({});

function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

function parseJsonColumn<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/** The row as the API shows it (capabilities and labels are stored as JSON text). */
function workerJson(w: WorkerRow) {
  const caps = parseJsonColumn<unknown>(w.capabilities, []);
  return {
    node_id: w.nodeId,
    node_name: w.nodeName,
    executor_kind: w.executorKind,
    capabilities: Array.isArray(caps)
      ? caps.flatMap((cap: unknown) => {
          if (!cap || typeof cap !== "object") return [];
          const { name, max_inflight } = cap as { name?: unknown; max_inflight?: unknown };
          return typeof name === "string" ? [{ name, max_inflight: typeof max_inflight === "number" ? max_inflight : 0 }] : [];
        })
      : [],
    labels: parseJsonColumn<Record<string, string>>(w.labels, {}),
    version: w.version,
    status: w.status,
    registered_at: rfc3339(w.registeredAt),
    // Typed clients expect a time here: until the first heartbeat, the registration time.
    last_seen_at: rfc3339(w.lastSeenAt ?? w.registeredAt),
  };
}

/** The origin workers should dial: CONSOLE_PUBLIC_URL when set, else where this request arrived. */
function consoleOrigin(c: Context<AppEnv>): string {
  return getConfig(c.env).publicUrl ?? new URL(c.req.url).origin;
}

/** A ready-to-paste start line for a new worker; the secret appears only here. */
export function startupCommand(origin: string, nodeId: string, secret: string): string {
  const parts = [`WORKER_CONSOLE_URL=${origin}`, `WORKER_ID=${nodeId}`, `WORKER_SECRET=${secret}`];
  if (origin.startsWith("http:")) parts.push("WORKER_CONSOLE_INSECURE=true");
  parts.push("npx onlyboxes-worker");
  return parts.join(" ");
}

/** Worker administration (admin session only): `/api/v1/workers`. */
export const workersRoutes = new Hono<AppEnv>();

// ensureBootstrap() runs before this app (mounted on /api/* in index.ts).
workersRoutes.use("*", csrfProtection(), requireSession({ admin: true }));

workersRoutes.get("/", async (c) => {
  const q = validate(listQuery, c.req.query());
  const { items, total } = await listWorkers(getDb(c.env), { page: q.page, pageSize: q.page_size, status: q.status });
  return c.json({ items: items.map(workerJson), total, page: q.page, page_size: q.page_size });
});

workersRoutes.get("/stats", async (c) => {
  const q = validate(statsQuery, c.req.query());
  const now = Date.now();
  const counts = await countWorkers(getDb(c.env), now - q.stale_after_sec * 1000);
  return c.json({ ...counts, stale_after_sec: q.stale_after_sec, generated_at: rfc3339(now) });
});

workersRoutes.get("/inflight", async (c) => {
  const registry = nodeRegistryStub(c.env);
  const nodes = await registry.inflight();
  return c.json({
    workers: nodes.map((n) => ({
      node_id: n.nodeId,
      capabilities: n.capabilities.map((cap) => ({
        name: cap.name,
        inflight: cap.inflight,
        max_inflight: cap.maxInflight,
      })),
    })),
    generated_at: rfc3339(Date.now()),
  });
});

workersRoutes.post("/", async (c) => {
  await parseJsonBody(c, createBody);
  const nodeId = crypto.randomUUID();
  const secret = randomHex(32);
  await insertWorker(getDb(c.env), {
    nodeId,
    secretHash: await hmacHex(getConfig(c.env).hashKey, secret),
    now: Date.now(),
    createdBy: c.var.account.accountId,
  });
  return c.json({ node_id: nodeId, command: startupCommand(consoleOrigin(c), nodeId, secret) }, 201);
});

workersRoutes.delete("/:node_id", async (c) => {
  const nodeId = c.req.param("node_id");
  // Deleting the row revokes the credential: no new connection can authenticate.
  if (!(await deleteWorker(getDb(c.env), nodeId))) throw new AppError("not_found", "worker not found");
  // Then close a live connection at once. The row is already gone, so a failure here is
  // logged rather than reported: the worker cannot reconnect either way.
  try {
    await c.env.WORKER_NODE.get(c.env.WORKER_NODE.idFromName(nodeId)).revoke();
  } catch (err) {
    console.error(
      JSON.stringify({
        level: "error",
        msg: "worker deleted but disconnecting it failed",
        nodeId,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
  }
  return c.body(null, 204);
});

workersRoutes.get("/:node_id/startup-command", () => {
  throw new AppError(
    "gone",
    "the startup command holds the worker secret and is shown only once, at creation; delete the worker and create a new one",
  );
});
