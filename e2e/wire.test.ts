/**
 * The console and worker as separate real processes: echo through REST, a worker killed
 * mid-command, a console restart the worker survives, and a deleted worker shut out.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createToken,
  eventually,
  freePort,
  launcherEnv,
  login,
  type Proc,
  START_SCRIPT,
  spawnGroup,
  stopGroup,
} from "./harness.ts";

describe("console and worker as separate processes", () => {
  let dataDir: string;
  let port: number;
  let url: string;
  let consoleProc: Proc;
  let cookie: string;
  let token: string;
  const hashKey = randomBytes(32).toString("hex");
  const password = `pw-${randomBytes(6).toString("hex")}`;

  async function startConsole(): Promise<void> {
    consoleProc = spawnGroup(
      [START_SCRIPT],
      launcherEnv({ port, dataDir, username: "admin", password, hashKey }, { CONSOLE_LOCAL_WORKER: "false" }),
    );
    const ok = await eventually(async () => /console listening on/.test(consoleProc.output()), 120_000, 100);
    if (!ok) throw new Error(`console did not start:\n${consoleProc.output()}`);
    url = `http://127.0.0.1:${port}`;
  }

  async function newWorker(): Promise<{ nodeId: string; env: Record<string, string> }> {
    const res = await fetch(`${url}/api/v1/workers`, { method: "POST", headers: { cookie } });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { node_id: string; command: string };
    const env: Record<string, string> = {};
    for (const m of body.command.matchAll(/(WORKER_[A-Z_]+)=(\S+)/g)) env[m[1] ?? ""] = m[2] ?? "";
    expect(env.WORKER_CONSOLE_URL).toBe(url);
    expect(env.WORKER_CONSOLE_INSECURE).toBe("true");
    return { nodeId: body.node_id, env };
  }

  function startWorker(env: Record<string, string>, extra: Record<string, string> = {}): Proc {
    return spawnGroup(["worker-docker/bin/onlyboxes-worker.mjs"], {
      ...process.env,
      WORKER_HEARTBEAT_INTERVAL_SEC: "1",
      ...env,
      ...extra,
    });
  }

  async function status(nodeId: string): Promise<string | undefined> {
    const res = await fetch(`${url}/api/v1/workers?page_size=100`, { headers: { cookie } });
    const body = (await res.json()) as { items: Array<{ node_id: string; status: string }> };
    return body.items.find((w) => w.node_id === nodeId)?.status;
  }

  /** Commands of `capability` the console has in flight on the worker `nodeId`. */
  async function inflight(nodeId: string, capability: string): Promise<number | undefined> {
    const res = await fetch(`${url}/api/v1/workers/inflight`, { headers: { cookie } });
    const body = (await res.json()) as {
      workers: Array<{ node_id: string; capabilities: Array<{ name: string; inflight: number }> }>;
    };
    return body.workers.find((w) => w.node_id === nodeId)?.capabilities.find((c) => c.name === capability)?.inflight;
  }

  function echo(message: string, timeoutMs = 5000) {
    return fetch(`${url}/api/v1/commands/echo`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ message, timeout_ms: timeoutMs }),
    });
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "onlyboxes-wire-"));
    port = await freePort();
    await startConsole();
    cookie = await login(url, "admin", password);
    token = await createToken(url, cookie, "wire");
  });

  afterAll(async () => {
    if (consoleProc) await stopGroup(consoleProc.child);
    await rm(dataDir, { recursive: true, force: true });
  });

  it("answers 503 no_worker before any worker connects", async () => {
    const res = await echo("nobody home");
    expect(res.status).toBe(503);
  });

  it("echoes through a real worker process, and the worker reconnects after a console restart", async () => {
    const { nodeId, env } = await newWorker();
    const worker = startWorker(env, { WORKER_DOCKER_ENABLED: "false" });
    try {
      expect(await eventually(async () => (await status(nodeId)) === "online", 30_000)).toBe(true);
      const res = await echo("hello through the wire");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ message: "hello through the wire" });

      await stopGroup(consoleProc.child);
      await startConsole();
      cookie = await login(url, "admin", password);
      // The same token still works, and the worker came back by itself.
      const back = await eventually(async () => (await echo("after restart")).status === 200, 60_000, 250);
      expect(back, worker.output()).toBe(true);
      expect(await status(nodeId)).toBe("online");
    } finally {
      await stopGroup(worker.child);
    }
  });

  it("fails the caller within seconds when the worker dies mid-command", async () => {
    const { nodeId, env } = await newWorker();
    // A Docker-less worker whose echo is slowed down is not possible; use a real
    // long-running terminal command instead when Docker is there, else a held echo.
    const worker = startWorker(env, { WORKER_DOCKER_ENABLED: "false", WORKER_ECHO_DELAY_MS: "60000" });
    try {
      expect(await eventually(async () => (await status(nodeId)) === "online", 30_000)).toBe(true);
      const started = Date.now();
      const pending = echo("never answered", 60_000);
      // Kill the worker only once the console has handed it the command.
      expect(await eventually(async () => (await inflight(nodeId, "echo")) === 1, 10_000, 50)).toBe(true);
      await stopGroup(worker.child, "SIGKILL");
      const res = await pending;
      const elapsed = Date.now() - started;
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: string }).error).toMatch(/disconnected/);
      expect(elapsed).toBeLessThan(5_000);
      expect(await eventually(async () => (await status(nodeId)) === "offline", 10_000)).toBe(true);
    } finally {
      await stopGroup(worker.child);
    }
  });

  it("closes a deleted worker's connection at once and refuses its reconnects", async () => {
    const { nodeId, env } = await newWorker();
    const worker = startWorker(env, { WORKER_DOCKER_ENABLED: "false" });
    try {
      expect(await eventually(async () => (await status(nodeId)) === "online", 30_000)).toBe(true);
      const del = await fetch(`${url}/api/v1/workers/${nodeId}`, { method: "DELETE", headers: { cookie } });
      expect(del.status).toBe(204);
      // The worker logs the refusal of its reconnect attempts (HTTP 401).
      expect(await eventually(async () => /revoked/.test(worker.output()), 10_000)).toBe(true);
      expect(await eventually(async () => /HTTP 401/.test(worker.output()), 15_000)).toBe(true);
      expect((await echo("gone")).status).toBe(503);
    } finally {
      await stopGroup(worker.child);
    }
  });
});
