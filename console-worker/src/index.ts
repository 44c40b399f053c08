import { Hono } from "hono";
import type { AppEnv } from "./app-env.ts";
import type { Env } from "./env.ts";
import { ensureBootstrap } from "./lib/bootstrap.ts";
import { AppError } from "./lib/errors.ts";
import { provisionLocalWorker } from "./lib/local-worker.ts";
import { BOOT_EVENT, runBoot, runScheduled } from "./lib/maintenance.ts";
import { MAX_JSON_BODY_BYTES } from "./lib/validate.ts";
import { errorHandler, errorResponse } from "./middleware/error-handler.ts";
import { securityHeaders } from "./middleware/security-headers.ts";
import { nodeRegistryStub } from "./objects/node-registry.ts";
import { activityRoutes } from "./routes/activity.ts";
import { commandsRoutes } from "./routes/commands.ts";
import { CONNECT_PREFIX, connectRoutes, isConnectUpload } from "./routes/connect.ts";
import { consoleRoutes } from "./routes/console.ts";
import { mcpRoutes } from "./routes/mcp.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { openapiRoutes } from "./routes/openapi.ts";
import { rpcRoutes } from "./routes/rpc.ts";
import { isFileUpload, sessionsRoutes } from "./routes/sessions.ts";
import { taskEventsRoutes } from "./routes/task-events.ts";
import { tasksRoutes } from "./routes/tasks.ts";
import { workersRoutes } from "./routes/workers.ts";

export { AccountLimits } from "./objects/account-limits.ts";
export { AuthThrottle } from "./objects/auth-throttle.ts";
export { NodeRegistry } from "./objects/node-registry.ts";
export { Session } from "./objects/session.ts";
export { Task } from "./objects/task.ts";
export { WorkerNode } from "./objects/worker-node.ts";

/** Builds the console's Hono app: one sub-app per resource. */
export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.onError(errorHandler);
  app.use(securityHeaders());
  app.notFound(async (c) => {
    // Dashboard files: on Cloudflare and under wrangler dev the asset router answers these
    // before the Worker runs; the self-hosted runtime hands them to the ASSETS binding here.
    const { pathname } = new URL(c.req.url);
    const api = pathname.startsWith("/api/") || pathname === "/mcp" || pathname.startsWith("/rpc/");
    if (!api && (c.req.method === "GET" || c.req.method === "HEAD") && c.env.ASSETS) {
      // A fetched response's headers are immutable; copy it so the security headers can be added.
      const asset = await c.env.ASSETS.fetch(c.req.raw);
      return new Response(asset.body, asset);
    }
    return errorResponse(c, "not_found", "not found");
  });

  // Answers without touching D1, a Durable Object or a worker: the benchmark's baseline.
  app.get("/healthz", (c) => c.json({ ok: true }));

  // Config check and first-start admin before anything that touches accounts or credentials.
  app.use("/api/*", ensureBootstrap());
  app.use("/mcp", ensureBootstrap());
  app.use("/rpc/*", ensureBootstrap());
  // Every REST body is JSON of at most this size: a larger declared length is refused
  // here, before anything reads it. A streamed (chunked) body is counted by its one reader
  // as it arrives, and reading stops at the limit: `parseJsonBody` for REST routes, the
  // Connect router's `readMaxBytes` for /api/connect. (Buffering it here first would
  // cost every chunked request a second copy of its body.) /mcp sets its own, larger
  // limit; a file upload streams to its worker under its own (CONSOLE_FILE_MAX_BYTES).
  const upload = (method: string, path: string) => isFileUpload(method, path) || isConnectUpload(method, path);
  app.use("/api/*", async (c, next) => {
    if (!upload(c.req.method, c.req.path) && Number(c.req.header("content-length") ?? "0") > MAX_JSON_BODY_BYTES) {
      throw new AppError("payload_too_large", `request body exceeds ${MAX_JSON_BODY_BYTES} bytes`);
    }
    await next();
  });

  app.route("/", openapiRoutes);
  app.route("/", metricsRoutes);
  app.route("/rpc", rpcRoutes);
  app.route("/api/v1/console", consoleRoutes);
  app.route("/api/v1/console", activityRoutes);
  app.route("/api/v1/workers", workersRoutes);
  app.route("/api/v1/commands", commandsRoutes);
  app.route("/api/v1/tasks", taskEventsRoutes);
  app.route("/api/v1/tasks", tasksRoutes);
  app.route("/api/v1/sessions", sessionsRoutes);
  app.route("/mcp", mcpRoutes);
  app.route(CONNECT_PREFIX, connectRoutes);
  app.all("/api/*", () => {
    throw new AppError("not_found", "not found");
  });
  return app;
}

const app = createApp();

export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    // The self-host launcher fires BOOT_EVENT once at start and waits for it. With no one
    // to fire a daily cron on one's own machine, the boot arms an alarm for it.
    if (controller.cron === BOOT_EVENT) {
      await runBoot(env, controller.scheduledTime);
      await provisionLocalWorker(env);
      await nodeRegistryStub(env).armMaintenance();
      return;
    }
    ctx.waitUntil(runScheduled(env));
  },
} satisfies ExportedHandler<Env>;
