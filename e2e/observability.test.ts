/**
 * What operators and client generators read, against the real console, its Docker worker
 * and real containers: the OpenAPI document (checked by an OpenAPI 3.1 validator, then
 * real answers checked against its schemas with ajv), the console's Prometheus metrics
 * and the worker's, parsed with a Prometheus text-format parser, moving after real runs.
 */
import { randomBytes } from "node:crypto";
import { Validator as OpenApiValidator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import parsePrometheus, { type PrometheusFamily } from "parse-prometheus-text-format";
import { beforeAll, describe, expect, it } from "vitest";
import { freePort, python, terminal, useConsole } from "./harness.ts";

type Json = Record<string, unknown>;
interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Json }> }> }>>;
}

// ajv-formats is CommonJS: its default export arrives wrapped under Node's ESM loader.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as typeof addFormatsModule;

const METRICS_TOKEN = `metrics-${randomBytes(12).toString("hex")}`;
let workerMetricsUrl = "";
const c = useConsole(async () => {
  const port = await freePort();
  workerMetricsUrl = `http://127.0.0.1:${port}/metrics`;
  return {
    env: { CONSOLE_METRICS_TOKEN: METRICS_TOKEN, WORKER_METRICS_ADDR: `127.0.0.1:${port}` },
    capabilities: ["pythonExec", "terminalExec"],
  };
});
let doc: OpenApiDoc;

beforeAll(async () => {
  const res = await fetch(`${c.url}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as OpenApiDoc;
});

describe("OpenAPI", () => {
  it("documents the shapes the running console answers", async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const check = (path: string, method: string, status: number, body: unknown) => {
      const schema = doc.paths[path]?.[method]?.responses[String(status)]?.content?.["application/json"]?.schema;
      expect(schema, `${method} ${path} ${status} is documented`).toBeDefined();
      const validate = ajv.compile(schema as Json);
      expect(validate(body) ? [] : validate.errors, `${method} ${path} ${status}: ${JSON.stringify(body)}`).toEqual([]);
    };
    const ran = await python(c, "print(6 * 7)");
    expect(ran.status).toBe(200);
    check("/api/v1/tasks", "post", 200, ran.body);
    const term = await terminal(c, { command: "echo hello" });
    expect(term.status).toBe(200);
    check("/api/v1/commands/terminal", "post", 200, term.body);
    const bad = await python(c, "");
    expect(bad.status).toBe(400);
    check("/api/v1/tasks", "post", 400, bad.body);
    for (const path of ["/api/v1/workers", "/api/v1/workers/stats", "/api/v1/workers/inflight"]) {
      const res = await fetch(`${c.url}${path}`, { headers: { cookie: c.adminCookie } });
      expect(res.status).toBe(200);
      check(path, "get", 200, await res.json());
    }
  });
});

/**
 * Scrapes and parses. The parser folds a histogram's series into one and drops their
 * labels, so histograms are read a second time as plain series (`_bucket`, `_count`,
 * `_sum`, each with its labels) from the same text without their TYPE lines.
 */
async function scrape(url: string, token?: string): Promise<PrometheusFamily[]> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
  const text = await res.text();
  const families = parsePrometheus(text);
  const histograms = new Set(families.filter((f) => f.type === "HISTOGRAM").map((f) => f.name));
  const untyped = text
    .split("\n")
    .filter((line) => !/^# (TYPE|HELP) /.test(line) || !histograms.has(line.split(" ")[2] ?? ""))
    .join("\n");
  const series = parsePrometheus(untyped).filter((f) => [...histograms].some((h) => f.name.startsWith(`${h}_`)));
  return [...families.filter((f) => !histograms.has(f.name)), ...series, ...families.filter((f) => histograms.has(f.name))];
}

/** The value of one sample (0 when the family or sample is absent). */
function sampleValue(families: PrometheusFamily[], name: string, labels: Record<string, string> = {}): number {
  const family = families.find((f) => f.name === name);
  const sample = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return Number(sample?.value ?? 0);
}

describe("metrics", () => {
  it("the console's /metrics needs the scrape token", async () => {
    expect((await fetch(`${c.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${c.url}/metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await fetch(`${c.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);
  });

  it("console and worker counters move with real runs", async () => {
    const consoleBefore = await scrape(`${c.url}/metrics`, METRICS_TOKEN);
    const workerBefore = await scrape(workerMetricsUrl);
    const runs = 3;
    for (let i = 0; i < runs; i++) expect((await python(c, `print(${i})`)).status).toBe(200);
    const failed = await python(c, "import time\ntime.sleep(30)", 500);
    expect(failed.status).toBe(504);
    const consoleAfter = await scrape(`${c.url}/metrics`, METRICS_TOKEN);
    const workerAfter = await scrape(workerMetricsUrl);

    const succeeded = { capability: "pythonExec", status: "succeeded" };
    expect(
      sampleValue(consoleAfter, "onlyboxes_tasks", succeeded) - sampleValue(consoleBefore, "onlyboxes_tasks", succeeded),
    ).toBe(runs);
    expect(sampleValue(consoleAfter, "onlyboxes_tasks", { capability: "pythonExec", status: "timeout" })).toBeGreaterThanOrEqual(
      1,
    );
    const durations = "onlyboxes_task_duration_seconds_count";
    expect(
      sampleValue(consoleAfter, durations, { capability: "pythonExec" }) -
        sampleValue(consoleBefore, durations, { capability: "pythonExec" }),
    ).toBe(runs + 1);
    expect(sampleValue(consoleAfter, "onlyboxes_workers", { status: "online" })).toBe(1);
    expect(sampleValue(consoleAfter, "onlyboxes_terminal_sessions_open")).toBeGreaterThanOrEqual(1);
    expect(
      consoleAfter.find((f) => f.name === "onlyboxes_commands_inflight")?.metrics.map((m) => m.labels?.capability),
    ).toContain("pythonExec");
    for (const direction of ["in", "out"]) {
      const moved =
        sampleValue(consoleAfter, "onlyboxes_worker_messages_total", { direction }) -
        sampleValue(consoleBefore, "onlyboxes_worker_messages_total", { direction });
      // At least one dispatch out and one result in per run.
      expect(moved, direction).toBeGreaterThanOrEqual(runs + 1);
    }

    const ok = { capability: "pythonExec", outcome: "ok" };
    expect(
      sampleValue(workerAfter, "onlyboxes_worker_runs_total", ok) - sampleValue(workerBefore, "onlyboxes_worker_runs_total", ok),
    ).toBe(runs);
    expect(
      sampleValue(workerAfter, "onlyboxes_worker_runs_total", { capability: "pythonExec", outcome: "deadline_exceeded" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sampleValue(workerAfter, "onlyboxes_worker_run_duration_seconds_count", { capability: "pythonExec" }),
    ).toBeGreaterThanOrEqual(runs);
    // The terminal session of the OpenAPI test still holds its container.
    expect(sampleValue(workerAfter, "onlyboxes_worker_containers_running")).toBeGreaterThanOrEqual(1);
    expect(workerAfter.map((f) => f.name)).toEqual(
      expect.arrayContaining(["onlyboxes_worker_python_pool_ready", "onlyboxes_worker_docker_errors_total"]),
    );
  });
});

// Last: the validator compiles its meta-schemas for seconds on a busy machine, blocking the
// event loop; idle keep-alive sockets the console closes meanwhile would fail the next request.
describe("OpenAPI validity", () => {
  it("is a valid OpenAPI 3.1 document (and the validator does refuse a broken one)", async () => {
    const result = await new OpenApiValidator().validate(doc as unknown as Json);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe("3.1.0");
    const broken = structuredClone(doc) as unknown as { paths: Record<string, Record<string, { responses: unknown }>> };
    const echo = broken.paths["/api/v1/commands/echo"]?.post;
    if (echo) echo.responses = "none";
    expect((await new OpenApiValidator().validate(broken as unknown as Json)).valid).toBe(false);
  });
});
