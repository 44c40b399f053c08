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

/** Settings of the launcher itself: they never reach the console Worker. */
const LAUNCHER_ONLY = new Set([
  "CONSOLE_HTTP_ADDR",
  "CONSOLE_DB_PATH",
  "CONSOLE_LOCAL_WORKER",
  "CONSOLE_LOG_REQUESTS",
  "CONSOLE_BUNDLE_DIR",
]);

/**
 * Defaults that differ on one's own machine: workerd here has no cap on one PBKDF2
 * derivation (Cloudflare's is 100000), so new password hashes use 600000 rounds.
 */
const SELF_HOST_DEFAULTS = { CONSOLE_PASSWORD_ITERATIONS: "600000" };

/**
 * The console Worker's variables: wrangler.toml's [vars], the self-host defaults, then every
 * `CONSOLE_*` the operator set (except the launcher's own), then what the launcher itself
 * decides (`own`, e.g. the hash key). Forwarding by prefix means a new console setting
 * needs no change here.
 */
export function consoleVars(env, tomlVars, own) {
  const vars = { ...tomlVars, ...SELF_HOST_DEFAULTS };
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith("CONSOLE_") && !LAUNCHER_ONLY.has(name) && value !== undefined) vars[name] = value;
  }
  return { ...vars, ...own };
}
