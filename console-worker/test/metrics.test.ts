/// <reference path="../../e2e/parse-prometheus-text-format.d.ts" />
import parsePrometheus, { type PrometheusFamily } from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, callJson, newAccountWithToken, waitFor } from "./helpers.ts";
import { connectTestWorker, type TestWorker } from "./worker-harness.ts";

/**
 * GET /metrics of the console: absent unless CONSOLE_METRICS_TOKEN is set, guarded by it,
 * and its numbers (read with a Prometheus text-format parser) follow real calls.
 */

const METRICS_TOKEN = "scrape-secret-0123456789";
const on = { env: { CONSOLE_METRICS_TOKEN: METRICS_TOKEN } };
let token = "";
let worker: TestWorker;

beforeAll(async () => {
  token = (await newAccountWithToken()).token;
  worker = await connectTestWorker();
  await worker.acked;
});

afterAll(async () => {
  worker.close();
  await worker.closed;
});

async function scrape(): Promise<PrometheusFamily[]> {
  const res = await call("/metrics", { ...on, bearer: METRICS_TOKEN });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

function sample(families: PrometheusFamily[], name: string, labels: Record<string, string> = {}): number {
  const s = families
    .find((f) => f.name === name)
    ?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return Number(s?.value ?? 0);
}

describe("GET /metrics", () => {
  it("is not there unless CONSOLE_METRICS_TOKEN is set", async () => {
    const res = await call("/metrics", { bearer: METRICS_TOKEN });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not found", code: "not_found" });
  });

  it("needs the scrape token, not an access token", async () => {
    for (const bearer of [undefined, "wrong", token]) {
      const res = await call("/metrics", bearer === undefined ? on : { ...on, bearer });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
  });

  it("counts tasks, the worker online and its WebSocket frames", async () => {
    const before = await scrape();
    const runs = 3;
    for (let i = 0; i < runs; i++) {
      const res = await call("/api/v1/tasks", {
        bearer: token,
        body: { capability: "echo", input: { message: `m${i}` }, mode: "sync" },
      });
      expect(res.status).toBe(200);
    }
    const after = await scrape();
    const done = { capability: "echo", status: "succeeded" };
    expect(sample(after, "onlyboxes_tasks", done) - sample(before, "onlyboxes_tasks", done)).toBe(runs);
    expect(sample(after, "onlyboxes_workers", { status: "online" })).toBeGreaterThanOrEqual(1);
    expect(after.find((f) => f.name === "onlyboxes_task_duration_seconds")?.type).toBe("HISTOGRAM");
    expect(sample(after, "onlyboxes_commands_inflight", { capability: "echo" })).toBe(0);
    for (const direction of ["in", "out"]) {
      const moved =
        sample(after, "onlyboxes_worker_messages_total", { direction }) -
        sample(before, "onlyboxes_worker_messages_total", { direction });
      expect(moved, direction).toBeGreaterThanOrEqual(runs);
    }
  });

  it("shows the admission queue's depth: 1 while a call waits for the only slot, 0 once it is served", async () => {
    // pythonExec lives only on this worker (one slot), so a second call must wait in its queue.
    const release: Array<() => void> = [];
    const busy = await connectTestWorker({
      capabilities: [{ name: "pythonExec", maxInflight: 1 }],
      handler: () => new Promise((resolve) => release.push(() => resolve({ payload: { output: "", stderr: "", exit_code: 0 } }))),
    });
    await busy.acked;
    try {
      const depth = async () => sample(await scrape(), "onlyboxes_queue_depth", { capability: "pythonExec" });
      await waitFor(async () => (await scrape()).some((f) => f.name === "onlyboxes_queue_depth" && f.metrics.length > 0));
      expect(await depth()).toBe(0);
      const run = (code: string) =>
        callJson("/api/v1/tasks", { bearer: token, body: { capability: "pythonExec", input: { code }, mode: "sync" } });
      const first = run("print(1)");
      await waitFor(() => busy.dispatches.length === 1);
      const second = run("print(2)");
      await waitFor(async () => (await depth()) === 1);
      expect(sample(await scrape(), "onlyboxes_commands_inflight", { capability: "pythonExec" })).toBe(1);
      release.shift()?.();
      await waitFor(() => busy.dispatches.length === 2);
      expect(await depth()).toBe(0);
      release.shift()?.();
      expect((await first).status).toBe(200);
      expect((await second).status).toBe(200);
    } finally {
      for (const r of release) r();
      busy.close();
      await busy.closed;
    }
  });
});
