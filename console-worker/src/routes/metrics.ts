import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import type { Env } from "../env.ts";
import { constantTimeEqual } from "../lib/crypto.ts";
import { type NodeMetrics, sumNodeMetrics } from "../metrics/node-metrics.ts";
import { histogramSamples, type MetricFamily, renderPrometheus } from "../metrics/prometheus-text.ts";
import { errorResponse } from "../middleware/error-handler.ts";
import { nodeRegistryStub } from "../objects/node-registry.ts";
import { workerNodeStub } from "../objects/worker-node.ts";

/** Upper bounds of the task duration histogram, in seconds (the longest task may run 600 s). */
const DURATION_BUCKETS_SEC = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The configured scrape token, or undefined when metrics are off. */
function metricsToken(env: Env): string | undefined {
  const t = env.CONSOLE_METRICS_TOKEN?.trim();
  return t ? t : undefined;
}

async function taskFamilies(db: D1Database): Promise<MetricFamily[]> {
  const bucketColumns = DURATION_BUCKETS_SEC.map(
    (b, i) => `sum(case when completed_at - created_at <= ${b * 1000} then 1 else 0 end) as b${i}`,
  ).join(", ");
  const [byStatus, durations] = await db.batch<Record<string, number | string>>([
    db.prepare("select capability, status, count(*) as n from tasks group by capability, status"),
    db.prepare(
      `select capability, count(*) as n, coalesce(sum(completed_at - created_at), 0) as total_ms, ${bucketColumns}
       from tasks where completed_at is not null group by capability`,
    ),
  ]);
  const histogram: MetricFamily = {
    name: "onlyboxes_task_duration_seconds",
    help: "Time from creation to completion of the finished tasks kept in D1, by capability.",
    type: "histogram",
    samples: [],
  };
  for (const row of durations?.results ?? []) {
    const cumulative = DURATION_BUCKETS_SEC.map((_, i) => Number(row[`b${i}`] ?? 0));
    histogram.samples.push(
      ...histogramSamples(DURATION_BUCKETS_SEC, cumulative, Number(row.n), Number(row.total_ms) / 1000, {
        capability: String(row.capability),
      }),
    );
  }
  return [
    {
      name: "onlyboxes_tasks",
      help: "Tasks kept in D1 (finished ones until the retention prunes them), by capability and status.",
      type: "gauge",
      samples: (byStatus?.results ?? []).map((r) => ({
        labels: { capability: String(r.capability), status: String(r.status) },
        value: Number(r.n),
      })),
    },
    histogram,
  ];
}

async function fleetFamilies(env: Env): Promise<MetricFamily[]> {
  const now = Date.now();
  const [workers, sessions] = await env.DB.batch<{ status: string; n: number }>([
    env.DB.prepare("select status, count(*) as n from workers group by status"),
    env.DB.prepare("select 'open' as status, count(*) as n from terminal_sessions where lease_expires_at > ?").bind(now),
  ]);
  const workerCount = (status: string) => Number(workers?.results.find((r) => r.status === status)?.n ?? 0);
  const nodes = await nodeRegistryStub(env).inflight();
  const inflight = new Map<string, number>();
  for (const n of nodes) for (const c of n.capabilities) inflight.set(c.name, (inflight.get(c.name) ?? 0) + c.inflight);
  // One in-memory read per online node (the same nodes the registry just asked for their load).
  const totals = sumNodeMetrics(
    await Promise.all(
      nodes.map((n) =>
        workerNodeStub(env, n.nodeId)
          .metrics()
          .catch((): NodeMetrics => ({ messages: { received: 0, sent: 0 }, queued: {} })),
      ),
    ),
  );
  // Every capability an online node offers gets a sample, so an empty queue reads 0, not absent.
  const queued = new Map([...inflight.keys()].map((capability) => [capability, 0]));
  for (const [capability, n] of totals.queued) queued.set(capability, n);
  return [
    {
      name: "onlyboxes_workers",
      help: "Registered workers by connection status.",
      type: "gauge",
      samples: ["online", "offline"].map((status) => ({ labels: { status }, value: workerCount(status) })),
    },
    {
      name: "onlyboxes_terminal_sessions_open",
      help: "Terminal sessions whose lease has not expired.",
      type: "gauge",
      samples: [{ value: Number(sessions?.results[0]?.n ?? 0) }],
    },
    {
      name: "onlyboxes_commands_inflight",
      help: "Commands running now on connected workers, by capability.",
      type: "gauge",
      samples: [...inflight].map(([capability, value]) => ({ labels: { capability }, value })),
    },
    {
      name: "onlyboxes_queue_depth",
      help: "Commands waiting for a free slot in the workers' admission queues, by capability.",
      type: "gauge",
      samples: [...queued].map(([capability, value]) => ({ labels: { capability }, value })),
    },
    {
      name: "onlyboxes_worker_messages_total",
      help: "WebSocket frames exchanged with the connected workers (saved at each heartbeat), by direction.",
      type: "counter",
      samples: [
        { labels: { direction: "in" }, value: totals.messages.received },
        { labels: { direction: "out" }, value: totals.messages.sent },
      ],
    },
  ];
}

/**
 * `GET /metrics`: Prometheus text for operators. Off unless CONSOLE_METRICS_TOKEN is set
 * (then 404, like any unknown path); on, it needs `Authorization: Bearer <that token>`.
 */
export const metricsRoutes = new Hono<AppEnv>().get("/metrics", async (c) => {
  const expected = metricsToken(c.env);
  if (expected === undefined) return errorResponse(c, "not_found", "not found");
  const given = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
  if (given === undefined || !constantTimeEqual(given, expected)) {
    return errorResponse(c, "unauthenticated", "a valid metrics token is required", {
      "WWW-Authenticate": 'Bearer realm="onlyboxes-metrics"',
    });
  }
  const families = [...(await taskFamilies(c.env.DB)), ...(await fleetFamilies(c.env))];
  return c.body(renderPrometheus(families), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
});
