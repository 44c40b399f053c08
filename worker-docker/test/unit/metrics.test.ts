/// <reference path="../../../e2e/parse-prometheus-text-format.d.ts" />
/**
 * The worker's metrics: the opt-in server answers Prometheus text that a text-format
 * parser reads, runs and Docker errors are counted, and a bad address is refused.
 */
import { createServer } from "node:net";
import parsePrometheus from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import type { ContainerClient } from "../../src/docker/container-client.ts";
import { createLogger } from "../../src/log.ts";
import { MetricsAddressError, parseMetricsAddr, startMetricsServer, WorkerMetrics } from "../../src/metrics.ts";

const quiet = createLogger({ component: "test" }, "error", () => {});

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === "object" ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

async function scrape(url: string) {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return parsePrometheus(await res.text());
}

function sample(families: ReturnType<typeof parsePrometheus>, name: string, labels: Record<string, string> = {}): number {
  const f = families.find((x) => x.name === name);
  const s = f?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return Number(s?.value ?? Number.NaN);
}

/** A Docker client whose every call fails the way an unreachable engine does. */
const deadEngine = new Proxy({} as ContainerClient, {
  get: () => () => Promise.reject(new Error("connect ENOENT /var/run/docker.sock")),
});

describe("worker metrics", () => {
  it("serves runs, gauges and Docker errors on the opt-in address", async () => {
    const metrics = new WorkerMetrics();
    const port = await freePort();
    const close = await startMetricsServer(`127.0.0.1:${port}`, quiet, metrics);
    try {
      const url = `http://127.0.0.1:${port}/metrics`;
      metrics.watchDocker(() => ({ containersRunning: 3, poolReady: 2 }));
      metrics.runFinished("pythonExec", "ok", 120);
      metrics.runFinished("pythonExec", "ok", 80);
      metrics.runFinished("terminalExec", "deadline_exceeded", 5_000);
      const client = metrics.countErrors(deadEngine);
      await expect(client.ping()).rejects.toThrow("ENOENT");
      await expect(client.create({} as never)).rejects.toThrow("ENOENT");

      const families = await scrape(url);
      expect(sample(families, "onlyboxes_worker_runs_total", { capability: "pythonExec", outcome: "ok" })).toBe(2);
      expect(sample(families, "onlyboxes_worker_runs_total", { capability: "terminalExec", outcome: "deadline_exceeded" })).toBe(
        1,
      );
      expect(sample(families, "onlyboxes_worker_containers_running")).toBe(3);
      expect(sample(families, "onlyboxes_worker_python_pool_ready")).toBe(2);
      expect(sample(families, "onlyboxes_worker_docker_errors_total", { operation: "ping" })).toBe(1);
      expect(sample(families, "onlyboxes_worker_docker_errors_total", { operation: "create" })).toBe(1);
      expect(families.find((f) => f.name === "onlyboxes_worker_run_duration_seconds")?.type).toBe("HISTOGRAM");

      metrics.runFinished("pythonExec", "ok", 10);
      expect(sample(await scrape(url), "onlyboxes_worker_runs_total", { capability: "pythonExec", outcome: "ok" })).toBe(3);
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      await close();
    }
  });

  it("parses host:port and refuses anything else", () => {
    expect(parseMetricsAddr("127.0.0.1:9464")).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(parseMetricsAddr("[::1]:9464")).toEqual({ host: "::1", port: 9464 });
    for (const bad of ["9464", "localhost", "127.0.0.1:", "127.0.0.1:70000", ":9464", "127.0.0.1:0"]) {
      expect(() => parseMetricsAddr(bad), bad).toThrow(MetricsAddressError);
    }
  });
});
