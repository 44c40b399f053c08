import { createInterface } from "node:readline";
import { Agent, type CapabilitySource } from "./agent.ts";
import type { DockerBackend } from "./capabilities/docker-capabilities.ts";
import { createEchoCapability } from "./capabilities/echo.ts";
import type { Capability } from "./capabilities/types.ts";
import { ConfigError, parseWorkerConfig, type WorkerConfig } from "./config.ts";
import { createLogger, type Logger } from "./log.ts";
import { MetricsAddressError, startMetricsServer } from "./metrics.ts";

/** A capability source whose real source arrives later: empty until then, and says so when it changes. */
class LateCapabilitySource implements CapabilitySource {
  private inner: CapabilitySource | null = null;
  private readonly listeners: Array<() => void> = [];

  capabilities(): Capability[] {
    return this.inner?.capabilities() ?? [];
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Takes `inner` as the source from now on and tells the listeners. */
  attach(inner: CapabilitySource): void {
    this.inner = inner;
    const notify = () => {
      for (const l of this.listeners) l();
    };
    inner.onChange(notify);
    notify();
  }
}

/**
 * The console URL, the first line on stdin. The self-host launcher starts its local worker
 * while the console starts, so the worker loads its code meanwhile, and writes the URL once
 * the console serves. Answers null when stdin ends first (the launcher is gone).
 */
async function consoleUrlFromStdin(): Promise<string | null> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of lines) return line.trim();
    return null;
  } finally {
    lines.close();
    // The launcher keeps its end open; ours would keep this process alive.
    process.stdin.destroy();
  }
}

/** Reads WORKER_* config; logs and sets the exit code when it is invalid. */
function readConfig(env: NodeJS.ProcessEnv, log: Logger): WorkerConfig | null {
  try {
    return parseWorkerConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error(`invalid configuration: ${err.message}`);
      process.exitCode = 2;
      return null;
    }
    throw err;
  }
}

/**
 * Starts the worker: reads WORKER_* config, connects, serves until SIGTERM/SIGINT. As the
 * self-host launcher's local worker (ONLYBOXES_LAUNCHER) it connects before Docker is set
 * up, and without WORKER_CONSOLE_URL it sets up Docker while the console starts and dials
 * once the launcher writes the console's URL on stdin.
 */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const log = createLogger({ component: "worker" });
  const fromLauncher = env.ONLYBOXES_LAUNCHER === "1";
  const consoleUrl = fromLauncher && !env.WORKER_CONSOLE_URL ? consoleUrlFromStdin() : null;
  // Until the launcher names the console, every other setting is checked against a stand-in URL.
  let config = readConfig(consoleUrl ? { ...env, WORKER_CONSOLE_URL: "http://127.0.0.1" } : env, log);
  if (!config) return;
  const nodeLog = log.child({ node_id: config.nodeId });
  const metricsAddr = env.WORKER_METRICS_ADDR?.trim();
  const stopMetrics = metricsAddr ? await startMetrics(metricsAddr, nodeLog) : null;
  if (metricsAddr && !stopMetrics) return;
  const echo = createEchoCapability(config.echoMaxInflight, config.echoDelayMs);
  const sources: CapabilitySource[] = [{ capabilities: () => [echo], onChange: () => {} }];
  const late = new LateCapabilitySource();
  let docker: Promise<DockerBackend> | undefined;
  if (config.dockerEnabled) {
    // Loaded only when wanted, so an echo-only worker never touches Docker.
    const { parseDockerConfig } = await import("./docker-config.ts");
    let dockerConfig: ReturnType<typeof parseDockerConfig>;
    try {
      dockerConfig = parseDockerConfig(env);
    } catch (err) {
      nodeLog.error(`invalid configuration: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 2;
      return;
    }
    sources.push(late);
    // The agent does not wait for this: it connects with what it has, and Docker's
    // capabilities follow through capabilitiesUpdate once the engine has answered (its
    // probe, image checks and pool fill take seconds the worker need not spend offline).
    docker = import("./capabilities/docker-capabilities.ts").then(async ({ createDockerBackend }) => {
      const backend = await createDockerBackend(dockerConfig, nodeLog.child({ component: "docker" }));
      late.attach(backend);
      return backend;
    });
    // Handled below once the agent exists; this only keeps a failure during the wait for
    // the console from counting as unhandled.
    docker.catch(() => {});
  }
  if (consoleUrl) {
    const url = await consoleUrl;
    if (url === null) {
      nodeLog.error("the launcher went away before the console was ready");
      process.exitCode = 1;
      await docker?.then((b) => b.close()).catch(() => {});
      return;
    }
    config = readConfig({ ...env, WORKER_CONSOLE_URL: url }, log);
    if (!config) return;
  }
  if (!fromLauncher) {
    // A standalone worker's console may be an older one that dropped a capabilitiesUpdate
    // arriving while the hello was recorded: it sets Docker up first, so the hello itself
    // carries the Docker capabilities. The launcher's console is this checkout's, which
    // applies an early update in order, so the local worker connects at once.
    await docker?.catch(() => null);
  }
  const agent = new Agent(config, sources, nodeLog);
  let stoppingSince = 0;
  const shutdown = (signal: string) => {
    if (stoppingSince) {
      // Ctrl+C reaches both the launcher and this process: only a later, deliberate signal forces the exit.
      if (Date.now() - stoppingSince < 2000) return;
      nodeLog.warn("second signal: exiting now", { signal });
      process.exit(130);
    }
    stoppingSince = Date.now();
    nodeLog.info("shutting down", { signal });
    void (async () => {
      await agent.stop();
      const backend = await docker?.catch(() => null);
      // A clean stop keeps idle terminal sessions: the next start of this node adopts them.
      await backend
        ?.close({ keepSessions: true })
        .catch((err: unknown) => nodeLog.error("cleanup failed", { error: String(err) }));
      await stopMetrics?.();
      nodeLog.info("stopped");
    })();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  docker?.catch((err: unknown) => {
    nodeLog.error("the Docker backend could not start", { error: err instanceof Error ? err.message : String(err) });
    process.exitCode = 1;
    shutdown("docker-failed");
  });
  nodeLog.info("starting", { console: config.consoleUrl, version: config.version });
  await agent.run();
}

/** Starts the opt-in metrics server; a bad address is a configuration error (exit code 2). */
async function startMetrics(addr: string, log: Logger): Promise<(() => Promise<void>) | null> {
  try {
    return await startMetricsServer(addr, log);
  } catch (err) {
    log.error(
      `invalid configuration: ${err instanceof MetricsAddressError ? err.message : `WORKER_METRICS_ADDR ${addr}: ${String(err)}`}`,
    );
    process.exitCode = 2;
    return null;
  }
}
