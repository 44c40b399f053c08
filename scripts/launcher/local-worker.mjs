// The local worker of a self-hosted console: its credential (generated once, kept in the
// data directory; the console registers it from the boot event) and the environment its
// process gets.
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/** Reads the local worker's credential from the data directory, creating it on first start. */
export function loadLocalWorkerCredential(dataDir) {
  const file = path.join(dataDir, "local-worker.json");
  if (existsSync(file)) {
    try {
      const cred = JSON.parse(readFileSync(file, "utf8"));
      if (typeof cred.node_id === "string" && typeof cred.secret === "string") return cred;
    } catch {
      // A damaged file gets a new credential; the console re-registers the worker with it.
    }
  }
  const cred = { node_id: randomUUID(), secret: `obw_${randomBytes(24).toString("hex")}` };
  writeFileSync(file, `${JSON.stringify(cred)}\n`, { mode: 0o600 });
  return cred;
}

/**
 * Variables of the launcher's environment the worker may see: its own WORKER_* settings,
 * how to reach Docker, and what a process needs to run (paths, locale, time zone, Node's
 * own options). Nothing else; in particular no CONSOLE_* (the hash key, the admin password).
 */
const ALLOWED = [/^WORKER_/, /^DOCKER_/, /^LC_/, /^NODE_(OPTIONS|EXTRA_CA_CERTS)$/];
const ALLOWED_NAMES = new Set(["PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "XDG_RUNTIME_DIR"]);

/**
 * The local worker's environment: the allowed part of `parentEnv`, then its credential and
 * the console URL. ONLYBOXES_LAUNCHER tells it the console is this checkout's, so it
 * connects at once and sends Docker's capabilities when the engine has answered. Without a
 * URL it reads the URL from stdin: a launcher starts it before the console is up, so it
 * loads its code meanwhile.
 */
export function localWorkerEnv(parentEnv, cred, consoleUrl = null) {
  const env = {};
  for (const [name, value] of Object.entries(parentEnv)) {
    if (value === undefined || name.startsWith("CONSOLE_")) continue;
    if (ALLOWED_NAMES.has(name) || ALLOWED.some((re) => re.test(name))) env[name] = value;
  }
  return {
    ...env,
    WORKER_ID: cred.node_id,
    WORKER_SECRET: cred.secret,
    ...(consoleUrl ? { WORKER_CONSOLE_URL: consoleUrl } : {}),
    ONLYBOXES_LAUNCHER: "1",
    WORKER_CONSOLE_INSECURE: "true",
    WORKER_NODE_NAME: parentEnv.WORKER_NODE_NAME ?? "local",
  };
}

/**
 * Node's arguments for the local worker's bundled entry. A 1 MiB young generation (Node's
 * default lets it grow to 16 MiB per semi-space): the worker's objects are small and
 * short-lived, so it scavenges more often for no measurable CPU per request, and its
 * resident memory after a load stays ≈ 25 MiB lower.
 */
export function localWorkerArgs(entry) {
  return ["--max-semi-space-size=1", entry];
}
