import { Agent, type CapabilitySource } from "./agent.ts";
import { createEchoCapability } from "./capabilities/echo.ts";
import { ConfigError, parseWorkerConfig } from "./config.ts";
import { createLogger, type Logger } from "./log.ts";
import { MetricsAddressError, startMetricsServer } from "./metrics.ts";

/** Starts the worker: reads WORKER_* config, connects, serves until SIGTERM/SIGINT. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const log = createLogger({ component: "worker" });
  let config: ReturnType<typeof parseWorkerConfig>;
  try {
    config = parseWorkerConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error(`invalid configuration: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const nodeLog = log.child({ node_id: config.nodeId });
  const metricsAddr = env.WORKER_METRICS_ADDR?.trim();
  const stopMetrics = metricsAddr ? await startMetrics(metricsAddr, nodeLog) : null;
  if (metricsAddr && !stopMetrics) return;
  const echo = createEchoCapability(config.echoMaxInflight, config.echoDelayMs);
  const sources: CapabilitySource[] = [{ capabilities: () => [echo], onChange: () => {} }];
  let closeDocker: (() => Promise<void>) | null = null;
  if (config.dockerEnabled) {
    // Loaded only when wanted, so an echo-only worker never touches Docker.
    const { parseDockerConfig } = await import("./docker-config.ts");
    const { createDockerBackend } = await import("./capabilities/docker-capabilities.ts");
    let dockerConfig: ReturnType<typeof parseDockerConfig>;
    try {
      dockerConfig = parseDockerConfig(env);
    } catch (err) {
      nodeLog.error(`invalid configuration: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 2;
      return;
    }
    const backend = await createDockerBackend(dockerConfig, nodeLog.child({ component: "docker" }));
    sources.push(backend);
    // A clean stop keeps idle terminal sessions: the next start of this node adopts them.
    closeDocker = () => backend.close({ keepSessions: true });
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
      await closeDocker?.().catch((err: unknown) => nodeLog.error("cleanup failed", { error: String(err) }));
      await stopMetrics?.();
      nodeLog.info("stopped");
    })();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
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
