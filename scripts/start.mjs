#!/usr/bin/env node
// Self-host launcher: the console on workerd (through Miniflare) with state on local disk,
// plus one local worker provisioned on first start. Ctrl+C stops both cleanly.
import { spawn, spawnSync } from "node:child_process";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const env = process.env;

function log(msg, fields = {}) {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), level: "info", component: "launcher", msg, ...fields })}\n`,
  );
}
function fail(msg) {
  process.stderr.write(`onlyboxes: ${msg}\n`);
  process.exit(2);
}

function parseAddr(raw) {
  const value = (raw ?? "127.0.0.1:8089").trim();
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  if (!m) fail(`CONSOLE_HTTP_ADDR must look like host:port (e.g. 127.0.0.1:8089 or :8089), got "${value}"`);
  const host = m[1] ?? (m[2] || "0.0.0.0");
  const port = Number(m[3]);
  if (port < 0 || port > 65535) fail(`CONSOLE_HTTP_ADDR port out of range: ${port}`);
  return { host, port };
}

let mf = null;
let worker = null;
let stopping = false;

async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log("stopping", { signal });
  if (worker) {
    const w = worker;
    const exited = new Promise((r) => w.once("exit", r));
    w.kill("SIGTERM");
    const t = setTimeout(() => w.kill("SIGKILL"), 35_000);
    await exited;
    clearTimeout(t);
  }
  await mf?.dispose().catch(() => {});
  log("stopped");
  process.exit(0);
}
// Miniflare installs handlers that exit on the first signal; ours stop in order instead
// (the worker finishes or cancels its work and removes its containers first).
function installSignalHandlers() {
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}
installSignalHandlers();

const { host, port } = parseAddr(env.CONSOLE_HTTP_ADDR);
const dataDir = path.resolve(env.CONSOLE_DB_PATH ?? path.join(root, "data"));
mkdirSync(dataDir, { recursive: true, mode: 0o700 });

// The hash key protects every stored token and worker secret: keep a generated one on disk.
let hashKey = env.CONSOLE_HASH_KEY?.trim();
const hashKeyFile = path.join(dataDir, "hash-key");
if (!hashKey) {
  if (existsSync(hashKeyFile)) {
    hashKey = readFileSync(hashKeyFile, "utf8").trim();
  } else {
    hashKey = randomBytes(32).toString("hex");
    writeFileSync(hashKeyFile, `${hashKey}\n`, { mode: 0o600 });
    process.stderr.write(
      `onlyboxes: warning: CONSOLE_HASH_KEY is not set; generated one and kept it in ${hashKeyFile}. Back it up: without it, every token and worker secret stops working.\n`,
    );
  }
}

// The dashboard is served from dashboard/dist; build it when missing.
const distDir = path.join(root, "dashboard", "dist");
if (!existsSync(path.join(distDir, "index.html"))) {
  log("building the dashboard (first start)");
  const r = spawnSync("npm", ["run", "build", "-w", "dashboard"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0 || !existsSync(path.join(distDir, "index.html"))) {
    mkdirSync(distDir, { recursive: true });
    writeFileSync(
      path.join(distDir, "index.html"),
      "<!doctype html><title>Onlyboxes</title><p>The dashboard build failed; the API works.</p>\n",
    );
  }
}

// A newer workerd rewrites Durable Object metadata that an older one then refuses: a data
// directory only ever moves forward in runtime version.
const runtimeVersion = JSON.parse(readFileSync(path.join(root, "node_modules", "miniflare", "package.json"), "utf8")).version;
const runtimeFile = path.join(dataDir, "runtime-version");
if (existsSync(runtimeFile)) {
  const recorded = readFileSync(runtimeFile, "utf8").trim();
  const num = (v) => v.split(".").map((x) => Number.parseInt(x, 10) || 0);
  const [a, b] = [num(recorded), num(runtimeVersion)];
  const newer = a.findIndex((x, i) => x !== (b[i] ?? 0));
  if (newer >= 0 && (a[newer] ?? 0) > (b[newer] ?? 0)) {
    fail(
      `${dataDir} was last used by runtime ${recorded}, newer than this checkout's ${runtimeVersion}; start it with the newer checkout (an older workerd cannot read its state)`,
    );
  }
}
writeFileSync(runtimeFile, `${runtimeVersion}\n`);

// Bundle the Worker exactly as `wrangler deploy` would, into the data directory (so two
// consoles started from one checkout never write the same bundle).
const bundleDir = path.join(dataDir, "bundle");
const t0 = Date.now();
const bundle = spawnSync(
  path.join(root, "node_modules", ".bin", "wrangler"),
  ["deploy", "--dry-run", "--outdir", bundleDir, "--config", path.join(root, "wrangler.toml")],
  {
    cwd: root,
    encoding: "utf8",
    env: { ...env, WRANGLER_SEND_METRICS: "false", WRANGLER_LOG: "error", NO_UPDATE_NOTIFIER: "1" },
  },
);
if (bundle.status !== 0) fail(`bundling the console failed:\n${bundle.stdout}\n${bundle.stderr}`);
log("console bundled", { ms: Date.now() - t0 });

const { Miniflare, Log, LogLevel } = await import("miniflare");
const { unstable_getMiniflareWorkerOptions, unstable_readConfig } = await import("wrangler");
const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(root, "wrangler.toml"));
// Only wrangler.toml's [vars]: a developer's .dev.vars (npm run dev) must not leak into self-host.
const tomlVars = unstable_readConfig({ config: path.join(root, "wrangler.toml") }).vars ?? {};

const bootId = randomUUID();
// Rows older than this belong to the previous run; a worker that reconnects faster than the
// bookkeeping below must not be marked offline by it.
const bootStartedAt = Date.now();
const vars = {
  ...tomlVars,
  CONSOLE_HASH_KEY: hashKey,
  CONSOLE_BOOT_ID: bootId,
  CONSOLE_VERSION: JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version,
};
for (const name of [
  "CONSOLE_ENABLE_REGISTRATION",
  "CONSOLE_DASHBOARD_USERNAME",
  "CONSOLE_DASHBOARD_PASSWORD",
  "CONSOLE_TASK_RETENTION_DAYS",
  "CONSOLE_PUBLIC_URL",
  "CONSOLE_REPO_URL",
  "CONSOLE_HEARTBEAT_INTERVAL_SEC",
  "CONSOLE_PASSWORD_ITERATIONS",
  "CONSOLE_ACCOUNT_MAX_SESSIONS",
  "CONSOLE_ACCOUNT_MAX_RUNS",
  "CONSOLE_SESSION_MAX_LIFETIME_SEC",
  "CONSOLE_WORKER_MAX_INFLIGHT",
]) {
  if (env[name] !== undefined) vars[name] = env[name];
}

// The dashboard's files come from a binding the app calls only for paths it does not
// serve itself; wrangler's asset router in front of every request cost ≈0.25 ms of CPU
// per API call (measured), so the self-hosted runtime leaves it out.
const { script: _s, scriptPath: _sp, modules: _m, assets: _assets, ...rest } = workerOptions;
const { Response: MfResponse } = await import("miniflare");
const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
  ".map": "application/json",
  ".webmanifest": "application/manifest+json",
};
function serveAsset(request) {
  const { pathname } = new URL(request.url);
  let rel;
  try {
    rel = decodeURIComponent(pathname);
  } catch {
    return new MfResponse("bad path", { status: 400 });
  }
  const file = path.resolve(distDir, `.${rel}`);
  const inside = file === distDir || file.startsWith(`${distDir}${path.sep}`);
  let target = inside && existsSync(file) && statSync(file).isFile() ? file : null;
  // Single-page app: unknown paths get index.html; a missing file with an extension is a 404.
  if (!target && path.extname(rel) === "") target = path.join(distDir, "index.html");
  if (!target || !existsSync(target)) return new MfResponse("not found", { status: 404 });
  const type = MIME[path.extname(target)] ?? "application/octet-stream";
  const immutable = target.startsWith(path.join(distDir, "assets") + path.sep);
  return new MfResponse(request.method === "HEAD" ? null : readFileSync(target), {
    headers: {
      "content-type": type,
      "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
      "x-content-type-options": "nosniff",
    },
  });
}
mf = new Miniflare({
  ...rest,
  name: "onlyboxes-console",
  modules: true,
  scriptPath: path.join(bundleDir, "index.js"),
  modulesRoot: bundleDir,
  bindings: vars,
  serviceBindings: { ...rest.serviceBindings, ASSETS: serveAsset },
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
installSignalHandlers();
let url;
try {
  url = await mf.ready;
} catch (err) {
  fail(`the console could not start on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`);
}

// D1 migrations, tracked in the same table wrangler uses.
const db = await mf.getD1Database("DB");
await db
  .prepare(
    "CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
  )
  .run();
const applied = new Set((await db.prepare("SELECT name FROM d1_migrations").all()).results.map((r) => r.name));
const migrationsDir = path.join(root, "console-worker", "migrations");
for (const file of readdirSync(migrationsDir)
  .filter((f) => f.endsWith(".sql"))
  .sort()) {
  if (applied.has(file)) continue;
  const statements = readFileSync(path.join(migrationsDir, file), "utf8")
    .split("--> statement-breakpoint")
    .map((s) => s.trim())
    .filter(Boolean);
  await db.batch([...statements.map((s) => db.prepare(s)), db.prepare("INSERT INTO d1_migrations (name) VALUES (?)").bind(file)]);
  log("applied migration", { file });
}

// Nothing survives a restart in flight: the Worker's boot handler (console-worker/src/lib/
// maintenance.ts) fails unfinished tasks and marks workers offline, for rows older than this run.
await (await mf.getWorker()).scheduled({ cron: "@boot", scheduledTime: new Date(bootStartedAt) });

const consoleUrl = `http://${host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host}:${url.port}`;
// Trigger the first-start bootstrap now, so a generated admin password is printed at start.
await fetch(`${consoleUrl}/api/v1/console/session`).catch(() => {});
process.stdout.write(`console listening on ${consoleUrl}\n`);

// Daily task retention: Cloudflare fires wrangler.toml's cron itself; Miniflare does not.
const runCron = async () => {
  try {
    await (await mf.getWorker()).scheduled({ cron: "17 3 * * *" });
  } catch (err) {
    log("scheduled run failed", { error: String(err) });
  }
};
setTimeout(runCron, 60_000).unref();
setInterval(runCron, 24 * 60 * 60 * 1000).unref();

// The local worker: provisioned once, credential kept in the data directory.
if ((env.CONSOLE_LOCAL_WORKER ?? "true").toLowerCase() !== "false") {
  const credFile = path.join(dataDir, "local-worker.json");
  let cred = existsSync(credFile) ? JSON.parse(readFileSync(credFile, "utf8")) : null;
  const exists = cred ? await db.prepare("SELECT 1 AS ok FROM workers WHERE node_id = ?").bind(cred.node_id).first() : null;
  if (!cred || !exists) {
    cred = { node_id: randomUUID(), secret: `obw_${randomBytes(24).toString("hex")}` };
    const secretHash = createHmac("sha256", hashKey).update(cred.secret).digest("hex");
    await db
      .prepare(
        "INSERT INTO workers (node_id, secret_hash, node_name, status, registered_at) VALUES (?, ?, 'local', 'offline', ?)",
      )
      .bind(cred.node_id, secretHash, Date.now())
      .run();
    writeFileSync(credFile, `${JSON.stringify(cred)}\n`, { mode: 0o600 });
    log("provisioned the local worker", { node_id: cred.node_id });
  }
  const startWorker = () => {
    worker = spawn(process.execPath, [path.join(root, "worker-docker", "bin", "onlyboxes-worker.mjs")], {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
      env: {
        ...env,
        WORKER_ID: cred.node_id,
        WORKER_SECRET: cred.secret,
        WORKER_CONSOLE_URL: consoleUrl,
        WORKER_CONSOLE_INSECURE: "true",
        WORKER_NODE_NAME: env.WORKER_NODE_NAME ?? "local",
      },
    });
    worker.on("exit", (code, signal) => {
      worker = null;
      if (stopping) return;
      log("local worker exited; restarting in 2 s", { code, signal });
      setTimeout(() => {
        if (!stopping) startWorker();
      }, 2000).unref();
    });
  };
  if (!stopping) startWorker();
}
