#!/usr/bin/env node
// The worker image's entry point. Started as root (the image's default), it reads the
// worker's credential, then gives root up before the worker runs: it joins the group that
// owns the mounted Docker socket, whatever that group's number is on this host, and becomes
// the unprivileged `onlyboxes` user (uid 10001). Started as another user (`--user`), it
// stays that user, who then needs the socket's group (`--group-add`).
//
// Without WORKER_ID and WORKER_SECRET it takes the credential the console image keeps in
// ONLYBOXES_WORKER_CREDENTIAL_DIR (a volume both compose services mount), waiting for the
// console to write it on a first start. Beside the console like that, it also waits until
// the console has its schema before the worker dials: the worker's reconnect backoff would
// otherwise have grown to tens of seconds while the console starts.
import { readFileSync, statSync } from "node:fs";
import { get as httpGet } from "node:http";
import { get as httpsGet } from "node:https";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const RUN_AS = 10001;
const POLL_MS = 250;
const env = process.env;

function log(level, msg, fields = {}) {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), level, component: "worker-entry", msg, ...fields })}\n`,
  );
}

/** The credential in `dir`, or null while the console has not written a whole one yet. */
function readCredential(file) {
  try {
    const cred = JSON.parse(readFileSync(file, "utf8"));
    if (typeof cred.node_id === "string" && typeof cred.secret === "string") return cred;
  } catch {
    // Missing or half-written: the console is still starting.
  }
  return null;
}

/** Answers whether the console at `base` has its schema: any answer below 500 (503 until it is migrated). */
function consoleReady(base) {
  const url = new URL("/api/v1/console/session", base.replace(/^ws/, "http"));
  return new Promise((resolve) => {
    const req = (url.protocol === "https:" ? httpsGet : httpGet)(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 500);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** The socket of DOCKER_HOST (default /var/run/docker.sock); null for a TCP engine. */
function dockerSocket() {
  const host = env.DOCKER_HOST?.trim();
  if (!host) return "/var/run/docker.sock";
  if (host.startsWith("unix://")) return host.slice("unix://".length);
  return host.startsWith("/") ? host : null;
}

const dir = env.ONLYBOXES_WORKER_CREDENTIAL_DIR?.trim();
if (!env.WORKER_ID?.trim() && !env.WORKER_SECRET?.trim() && dir) {
  const file = path.join(dir, "local-worker.json");
  let cred = readCredential(file);
  if (!cred) log("info", "waiting for the console to write the worker credential", { file });
  while (!cred) {
    await sleep(POLL_MS);
    cred = readCredential(file);
  }
  env.WORKER_ID = cred.node_id;
  env.WORKER_SECRET = cred.secret;
  const consoleUrl = env.WORKER_CONSOLE_URL?.trim();
  if (consoleUrl && /^(http|ws)s?:\/\//.test(consoleUrl) && !(await consoleReady(consoleUrl))) {
    log("info", "waiting for the console to be ready", { console: consoleUrl });
    while (!(await consoleReady(consoleUrl))) await sleep(POLL_MS);
  }
}

if (process.getuid?.() === 0 && process.setuid && process.setgid && process.setgroups) {
  const groups = [RUN_AS];
  const socket = dockerSocket();
  if (socket) {
    try {
      const { gid } = statSync(socket);
      if (gid !== RUN_AS) groups.push(gid);
    } catch (err) {
      // The worker itself reports a missing engine and keeps serving echo until it appears.
      log("warn", "no Docker socket to take the group of", { socket, error: err instanceof Error ? err.message : String(err) });
    }
  }
  process.setgroups(groups);
  process.setgid(RUN_AS);
  process.setuid(RUN_AS);
  env.HOME = "/home/onlyboxes";
  env.USER = "onlyboxes";
  env.LOGNAME = "onlyboxes";
}

await import(new URL("./onlyboxes-worker.mjs", import.meta.url).href);
