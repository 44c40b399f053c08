import { createServer, type Server } from "node:http";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ContainerClient } from "./docker/container-client.ts";
import type { Logger } from "./log.ts";

/** What the Docker backend holds right now, read at scrape time. */
export interface DockerStats {
  /** Containers this worker created and has not removed yet. */
  containersRunning: number;
  /** Warm pythonExec containers waiting for a run. */
  poolReady: number;
}

/**
 * The worker's Prometheus metrics. One instance per process (`workerMetrics`): the agent
 * counts runs, the Docker client counts engine errors, the backend reports its gauges.
 * Nothing is served unless WORKER_METRICS_ADDR is set.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private dockerStats: () => DockerStats = () => ({ containersRunning: 0, poolReady: 0 });
  private readonly runs = new Counter({
    name: "onlyboxes_worker_runs_total",
    help: "Commands this worker finished, by capability and outcome (ok or the error code).",
    labelNames: ["capability", "outcome"] as const,
    registers: [this.registry],
  });
  private readonly runSeconds = new Histogram({
    name: "onlyboxes_worker_run_duration_seconds",
    help: "How long commands ran on this worker, by capability.",
    labelNames: ["capability"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  private readonly dockerErrors = new Counter({
    name: "onlyboxes_worker_docker_errors_total",
    help: "Docker Engine calls that failed, by operation.",
    labelNames: ["operation"] as const,
    registers: [this.registry],
  });

  constructor() {
    const gauges: [name: string, help: string, stat: keyof DockerStats][] = [
      [
        "onlyboxes_worker_containers_running",
        "Sandbox containers this worker created and has not removed yet.",
        "containersRunning",
      ],
      ["onlyboxes_worker_python_pool_ready", "Warm pythonExec containers ready for a run.", "poolReady"],
    ];
    const stats = () => this.dockerStats();
    for (const [name, help, stat] of gauges) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(stats()[stat]);
        },
      });
    }
  }

  /** Set once the metrics are served: until then counting each command would be work nobody reads. */
  private recording = false;

  /** Counts one finished command: `outcome` is "ok" or the registry code it failed with. */
  runFinished(capability: string, outcome: string, ms: number): void {
    if (!this.recording) return;
    this.runs.inc({ capability, outcome });
    this.runSeconds.observe({ capability }, ms / 1000);
  }

  /** From now on, finished commands are counted (the metrics are being served). */
  record(): void {
    this.recording = true;
  }

  /** Where the gauges read the Docker backend's state from. */
  watchDocker(stats: () => DockerStats): void {
    this.dockerStats = stats;
  }

  /** Wraps a Docker client so every failed engine call is counted (the call itself is unchanged). */
  countErrors(client: ContainerClient): ContainerClient {
    const errors = this.dockerErrors;
    const wrap =
      <A extends unknown[], R>(operation: string, fn: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> =>
        fn(...args).catch((err: unknown) => {
          errors.inc({ operation });
          throw err;
        });
    return {
      ping: wrap("ping", () => client.ping()),
      hasImage: wrap("hasImage", (image) => client.hasImage(image)),
      create: wrap("create", (spec) => client.create(spec)),
      attach: wrap("attach", (id, sink) => client.attach(id, sink)),
      start: wrap("start", (id) => client.start(id)),
      wait: wrap("wait", (id) => client.wait(id)),
      remove: wrap("remove", (id) => client.remove(id)),
      exec: wrap("exec", (id, options, sink) => client.exec(id, options, sink)),
      execAttached: wrap("execAttached", (id, options, sink) => client.execAttached(id, options, sink)),
      execStream: wrap("execStream", (id, options, sink) => client.execStream(id, options, sink)),
      listDetailed: wrap("listDetailed", (labels) => client.listDetailed(labels)),
    };
  }
}

/** The process's metrics. */
export const workerMetrics = new WorkerMetrics();

/** Thrown for a WORKER_METRICS_ADDR that is not `host:port`. */
export class MetricsAddressError extends Error {}

/** Parses `host:port` (`[::1]:9464` for IPv6). */
export function parseMetricsAddr(addr: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(addr.trim());
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new MetricsAddressError(`WORKER_METRICS_ADDR must be host:port (e.g. 127.0.0.1:9464), got "${addr}"`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ""), port };
}

/**
 * Serves `GET /metrics` on `addr` (Prometheus text). No authentication: bind it to a
 * loopback or otherwise private address. Resolves once listening; the result closes it.
 */
export async function startMetricsServer(addr: string, log: Logger, metrics = workerMetrics): Promise<() => Promise<void>> {
  const { host, port } = parseMetricsAddr(addr);
  metrics.record();
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
      (err: unknown) => {
        log.error("metrics collection failed", { error: err instanceof Error ? err.message : String(err) });
        res.writeHead(500, { "content-type": "text/plain" }).end("metrics collection failed\n");
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.unref();
  log.info("metrics listening", { addr: `${host}:${port}` });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
