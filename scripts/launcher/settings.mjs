// The operator's CONSOLE_* settings as the launcher reads them: where to listen, where the
// data lives, and which variables reach the console Worker.
import path from "node:path";
import { LauncherError } from "./log.mjs";

/** Parses CONSOLE_HTTP_ADDR (`host:port`, `:port`, `[v6]:port`); default 127.0.0.1:8089. */
export function parseAddr(raw) {
  const value = (raw ?? "127.0.0.1:8089").trim();
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  if (!m) throw new LauncherError(`CONSOLE_HTTP_ADDR must look like host:port (e.g. 127.0.0.1:8089 or :8089), got "${value}"`);
  const host = m[1] ?? (m[2] || "0.0.0.0");
  const port = Number(m[3]);
  if (port > 65535) throw new LauncherError(`CONSOLE_HTTP_ADDR port out of range: ${port}`);
  return { host, port };
}

/** The URL a local client (the local worker, the launcher) uses to reach a console bound to `host`. */
export function localUrl(host, port) {
  const h = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${h.includes(":") ? `[${h}]` : h}:${port}`;
}

/** The data directory: CONSOLE_DB_PATH, else `data/` in the checkout. */
export function dataDirFrom(env, root) {
  return path.resolve(env.CONSOLE_DB_PATH ?? path.join(root, "data"));
}

/** Console settings the operator may set in the launcher's environment. */
const FORWARDED = [
  "CONSOLE_ENABLE_REGISTRATION",
  "CONSOLE_DASHBOARD_USERNAME",
  "CONSOLE_DASHBOARD_PASSWORD",
  "CONSOLE_TASK_RETENTION_DAYS",
  "CONSOLE_PUBLIC_URL",
  "CONSOLE_REPO_URL",
  "CONSOLE_HEARTBEAT_INTERVAL_SEC",
  "CONSOLE_PASSWORD_ITERATIONS",
];

/**
 * The console Worker's variables: wrangler.toml's [vars], then the operator's settings
 * from `env`, then what the launcher itself decides (`own`, e.g. the hash key).
 */
export function consoleVars(env, tomlVars, own) {
  const vars = { ...tomlVars };
  for (const name of FORWARDED) if (env[name] !== undefined) vars[name] = env[name];
  return { ...vars, ...own };
}
