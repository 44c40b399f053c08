// The console Worker on workerd, driven through Miniflare, with its state on local disk.
import path from "node:path";
import { applyMigrations } from "./apply-migrations.mjs";
import { assetHandler } from "./assets.mjs";

/**
 * Starts the bundled console listening on `host:port`. Answers `{ port, migrate,
 * scheduled, dispose }`: the port it got, a way to apply the D1 migrations, a way to fire
 * a scheduled event at the Worker and wait for it, and a clean stop.
 */
export async function startConsoleRuntime({ bundleDir, options, vars, dataDir, distDir, host, port, env }) {
  const { Miniflare, Log, LogLevel, Response } = await import("miniflare");
  const mf = new Miniflare({
    ...options,
    name: "onlyboxes-console",
    modules: true,
    scriptPath: path.join(bundleDir, "index.js"),
    modulesRoot: bundleDir,
    bindings: vars,
    serviceBindings: { ...options.serviceBindings, ASSETS: assetHandler(distDir, Response) },
    host,
    port,
    d1Persist: path.join(dataDir, "d1"),
    durableObjectsPersist: path.join(dataDir, "do"),
    cachePersist: false,
    // No request.cf lookup (it needs the internet) and no per-request log lines (they cost time).
    cf: { colo: "LOCAL", country: "XX" },
    logRequests: env.CONSOLE_LOG_REQUESTS === "true",
    log: new Log(env.CONSOLE_LOG_LEVEL === "debug" ? LogLevel.DEBUG : LogLevel.INFO),
  });
  const url = await mf.ready;
  const db = await mf.getD1Database("DB");
  return {
    port: Number(url.port),
    migrate: (migrations) => applyMigrations(db, migrations),
    async scheduled(cron, scheduledTime = new Date()) {
      await (await mf.getWorker()).scheduled({ cron, scheduledTime });
    },
    dispose: () => mf.dispose(),
  };
}
