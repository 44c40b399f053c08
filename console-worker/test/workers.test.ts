import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
// The answers typed as the dashboard, the API's client in this repository, reads them.
import type { WorkerPage, WorkerStats } from "../../dashboard/src/api/types.ts";
import { hmacHex } from "../src/lib/crypto.ts";
import { call, callJson, createAccount, createWorker, signInAdmin, waitFor } from "./helpers.ts";
import { connectRegisteredWorker } from "./worker-harness.ts";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function setWorker(nodeId: string, fields: { status?: string; lastSeenAt?: number | null; registeredAt?: number }) {
  if (fields.status !== undefined) {
    await env.DB.prepare("UPDATE workers SET status = ? WHERE node_id = ?").bind(fields.status, nodeId).run();
  }
  if (fields.lastSeenAt !== undefined) {
    await env.DB.prepare("UPDATE workers SET last_seen_at = ? WHERE node_id = ?").bind(fields.lastSeenAt, nodeId).run();
  }
  if (fields.registeredAt !== undefined) {
    await env.DB.prepare("UPDATE workers SET registered_at = ? WHERE node_id = ?").bind(fields.registeredAt, nodeId).run();
  }
}

describe("access", () => {
  const routes: Array<[string, string]> = [
    ["GET", "/api/v1/workers"],
    ["GET", "/api/v1/workers/stats"],
    ["GET", "/api/v1/workers/inflight"],
    ["POST", "/api/v1/workers"],
    ["DELETE", "/api/v1/workers/00000000-0000-0000-0000-000000000000"],
    ["GET", "/api/v1/workers/00000000-0000-0000-0000-000000000000/startup-command"],
  ];

  it.each(routes)("%s %s answers 401 when not signed in", async (method, path) => {
    const res = await callJson(path, { method });
    expect(res).toMatchObject({ status: 401, body: { error: "not signed in", code: "unauthenticated" } });
  });

  it.each(routes)("%s %s answers 403 to a non-admin", async (method, path) => {
    const user = await createAccount(await signInAdmin());
    const res = await callJson(path, { method, cookie: user.cookie });
    expect(res).toMatchObject({ status: 403, body: { error: "admin privileges required", code: "forbidden" } });
  });

  it("does not accept a bearer token", async () => {
    const res = await callJson("/api/v1/workers", { bearer: "obx_anything" });
    expect(res.status).toBe(401);
  });
});

describe("POST /api/v1/workers", () => {
  it("creates a worker and returns a ready-to-paste command with the secret", async () => {
    const admin = await signInAdmin();
    const res = await callJson<{ node_id: string; command: string }>("/api/v1/workers", { method: "POST", cookie: admin });
    expect(res.status).toBe(201);
    expect(res.body.node_id).toMatch(UUID);
    const m =
      /^WORKER_CONSOLE_URL=https:\/\/console\.test WORKER_ID=(\S+) WORKER_SECRET=([0-9a-f]{64}) npx onlyboxes-worker$/.exec(
        res.body.command,
      );
    expect(m?.[1]).toBe(res.body.node_id);

    const row = await env.DB.prepare("SELECT * FROM workers WHERE node_id = ?")
      .bind(res.body.node_id)
      .first<Record<string, unknown>>();
    expect(row?.secret_hash).toBe(await hmacHex(env.CONSOLE_HASH_KEY ?? "", m?.[2] ?? ""));
    expect(JSON.stringify(row)).not.toContain(m?.[2]);
    expect(row?.status).toBe("offline");
  });

  it("adds WORKER_CONSOLE_INSECURE=true for a plain-http console", async () => {
    const admin = await signInAdmin();
    const res = await callJson<{ command: string }>("http://console.test/api/v1/workers", { method: "POST", cookie: admin });
    expect(res.status).toBe(201);
    expect(res.body.command).toMatch(
      /^WORKER_CONSOLE_URL=http:\/\/console\.test WORKER_ID=\S+ WORKER_SECRET=\S+ WORKER_CONSOLE_INSECURE=true npx onlyboxes-worker$/,
    );
  });

  it("uses CONSOLE_PUBLIC_URL when set", async () => {
    const admin = await signInAdmin();
    const res = await callJson<{ command: string }>("/api/v1/workers", {
      method: "POST",
      cookie: admin,
      env: { CONSOLE_PUBLIC_URL: "https://boxes.example.com/" },
    });
    expect(res.body.command).toMatch(/^WORKER_CONSOLE_URL=https:\/\/boxes\.example\.com WORKER_ID=/);
    expect(res.body.command).not.toContain("INSECURE");
  });

  it("accepts an empty JSON object but refuses unknown fields", async () => {
    const admin = await signInAdmin();
    expect((await callJson("/api/v1/workers", { method: "POST", cookie: admin, body: {} })).status).toBe(201);
    const res = await callJson("/api/v1/workers", { method: "POST", cookie: admin, body: { name: "w1" } });
    expect(res).toMatchObject({ status: 400, body: { error: "unknown field: name", code: "invalid_argument" } });
  });

  it("issues credentials a worker can connect with", async () => {
    const admin = await signInAdmin();
    const created = await createWorker(admin);
    const w = await connectRegisteredWorker(created);
    await w.acked;
    // The console lists it online under the node id it was issued.
    const listed = await waitFor(async () => {
      const res = await callJson<{ items: Array<{ node_id: string; status: string }> }>("/api/v1/workers?status=online", {
        cookie: admin,
      });
      return res.body.items.find((item) => item.node_id === created.nodeId);
    });
    expect(listed.status).toBe("online");
    w.close();
    await w.closed;
  });
});

describe("GET /api/v1/workers", () => {
  beforeEach(async () => {
    await env.DB.prepare("DELETE FROM workers").run();
  });

  it("lists workers with every field, newest first, paginated", async () => {
    const admin = await signInAdmin();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const w = await createWorker(admin);
      await setWorker(w.nodeId, { registeredAt: 1_700_000_000_000 + i * 1000 });
      ids.push(w.nodeId);
    }
    const all = await callJson<WorkerPage>("/api/v1/workers", { cookie: admin });
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ total: 5, page: 1, page_size: 20 });
    expect(all.body.items.map((w) => w.node_id)).toEqual([...ids].reverse());
    expect(all.body.items[0]).toEqual({
      node_id: ids[4],
      node_name: "",
      executor_kind: "",
      capabilities: [],
      labels: {},
      version: "",
      status: "offline",
      registered_at: new Date(1_700_000_004_000).toISOString(),
      // Never connected: the registration time stands in (typed clients expect a time).
      last_seen_at: new Date(1_700_000_004_000).toISOString(),
    });

    const page2 = await callJson<WorkerPage>("/api/v1/workers?page=2&page_size=2", { cookie: admin });
    expect(page2.body).toMatchObject({ total: 5, page: 2, page_size: 2 });
    expect(page2.body.items.map((w) => w.node_id)).toEqual([ids[2], ids[1]]);
    const page3 = await callJson<WorkerPage>("/api/v1/workers?page=3&page_size=2", { cookie: admin });
    expect(page3.body.items.map((w) => w.node_id)).toEqual([ids[0]]);
    const beyond = await callJson<WorkerPage>("/api/v1/workers?page=9&page_size=2", { cookie: admin });
    expect(beyond.body).toMatchObject({ items: [], total: 5 });
    expect((await callJson<WorkerPage>("/api/v1/workers?page_size=100", { cookie: admin })).body.items).toHaveLength(5);
  });

  it("gives last_seen_at the registration time until the first heartbeat, then the heartbeat's", async () => {
    const admin = await signInAdmin();
    const w = await createWorker(admin);
    await setWorker(w.nodeId, { registeredAt: 1_700_000_000_000 });
    const before = await callJson<WorkerPage>("/api/v1/workers", { cookie: admin });
    expect(before.body.items[0]?.last_seen_at).toBe(new Date(1_700_000_000_000).toISOString());
    const connectedAt = Date.now();
    const worker = await connectRegisteredWorker(w);
    await worker.acked;
    await vi.waitFor(async () => {
      const after = await callJson<WorkerPage>("/api/v1/workers", { cookie: admin });
      expect(Date.parse(after.body.items[0]?.last_seen_at ?? "")).toBeGreaterThanOrEqual(connectedAt - 1_000);
    });
    worker.close();
    await worker.closed;
  });

  it("filters by status", async () => {
    const admin = await signInAdmin();
    const a = await createWorker(admin);
    const b = await createWorker(admin);
    await setWorker(a.nodeId, { status: "online", lastSeenAt: Date.now() });
    const online = await callJson<WorkerPage>("/api/v1/workers?status=online", { cookie: admin });
    expect(online.body.total).toBe(1);
    expect(online.body.items.map((w) => w.node_id)).toEqual([a.nodeId]);
    expect(online.body.items[0]?.status).toBe("online");
    expect(online.body.items[0]?.last_seen_at).toMatch(RFC3339);
    const offline = await callJson<WorkerPage>("/api/v1/workers?status=offline", { cookie: admin });
    expect(offline.body.items.map((w) => w.node_id)).toEqual([b.nodeId]);
    expect((await callJson<WorkerPage>("/api/v1/workers?status=all", { cookie: admin })).body.total).toBe(2);
  });

  it("shows what a connected worker declared", async () => {
    const admin = await signInAdmin();
    const created = await createWorker(admin);
    const w = await connectRegisteredWorker(created, {
      labels: { zone: "lab" },
      capabilities: [
        { name: "echo", maxInflight: 3 },
        { name: "pythonExec", maxInflight: 2 },
      ],
    });
    await w.acked;
    const res = await callJson<WorkerPage>("/api/v1/workers?status=online", { cookie: admin });
    expect(res.body.items).toHaveLength(1);
    expect(res.body.items[0]).toMatchObject({
      node_id: created.nodeId,
      node_name: "test-worker",
      executor_kind: "test",
      version: "test",
      labels: { zone: "lab" },
      status: "online",
      last_seen_at: expect.stringMatching(RFC3339),
    });
    expect(res.body.items[0]?.capabilities).toEqual(
      expect.arrayContaining([
        { name: "echo", max_inflight: 3 },
        { name: "pythonExec", max_inflight: 2 },
      ]),
    );
    w.close();
  });

  const badQueries = ["page=0", "page=-1", "page=abc", "page=1.5", "page_size=0", "page_size=101", "page_size=", "status=busy"];
  it.each(badQueries)("answers 400 naming the parameter for %s", async (query) => {
    const field = query.slice(0, query.indexOf("="));
    const admin = await signInAdmin();
    const res = await callJson<{ error: string }>(`/api/v1/workers?${query}`, { cookie: admin });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain(field);
  });
});

describe("GET /api/v1/workers/stats", () => {
  beforeEach(async () => {
    await env.DB.prepare("DELETE FROM workers").run();
  });

  it("counts online, offline and stale workers", async () => {
    const admin = await signInAdmin();
    const fresh = await createWorker(admin);
    const old = await createWorker(admin);
    const never = await createWorker(admin);
    await createWorker(admin); // offline
    const now = Date.now();
    await setWorker(fresh.nodeId, { status: "online", lastSeenAt: now });
    await setWorker(old.nodeId, { status: "online", lastSeenAt: now - 45_000 });
    await setWorker(never.nodeId, { status: "online", lastSeenAt: null });

    const res = await callJson<WorkerStats>("/api/v1/workers/stats", { cookie: admin });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      total: 4,
      online: 3,
      offline: 1,
      stale: 2,
      stale_after_sec: 30,
      generated_at: expect.stringMatching(RFC3339),
    });
    const lenient = await callJson<WorkerStats>("/api/v1/workers/stats?stale_after_sec=60", { cookie: admin });
    expect(lenient.body).toMatchObject({ stale: 1, stale_after_sec: 60 });
  });

  it("answers zeros with no workers", async () => {
    const admin = await signInAdmin();
    const res = await callJson<WorkerStats>("/api/v1/workers/stats", { cookie: admin });
    expect(res.body).toMatchObject({ total: 0, online: 0, offline: 0, stale: 0 });
  });

  it.each(["stale_after_sec=0", "stale_after_sec=abc", "stale_after_sec=-5", "stale_after_sec=99999999"])(
    "answers 400 for %s",
    async (query) => {
      const admin = await signInAdmin();
      const res = await callJson<{ error: string }>(`/api/v1/workers/stats?${query}`, { cookie: admin });
      expect(res.status).toBe(400);
      expect(res.body.error).toContain("stale_after_sec");
    },
  );
});

describe("GET /api/v1/workers/inflight", () => {
  it("reports live slots per connected worker", async () => {
    const admin = await signInAdmin();
    const created = await createWorker(admin);
    const w = await connectRegisteredWorker(created, {
      capabilities: [{ name: "echo", maxInflight: 2 }],
    });
    await w.acked;
    const res = await callJson<{ workers: Array<{ node_id: string; capabilities: unknown[] }>; generated_at: string }>(
      "/api/v1/workers/inflight",
      { cookie: admin },
    );
    expect(res.status).toBe(200);
    expect(res.body.generated_at).toMatch(RFC3339);
    expect(res.body.workers.find((x) => x.node_id === created.nodeId)).toEqual({
      node_id: created.nodeId,
      capabilities: [{ name: "echo", inflight: 0, max_inflight: 2 }],
    });
    w.close();
  });
});

describe("DELETE /api/v1/workers/:node_id", () => {
  it("deletes the row, disconnects the worker at once and refuses its credential", async () => {
    const admin = await signInAdmin();
    const created = await createWorker(admin);
    const w = await connectRegisteredWorker(created);
    await w.acked;

    const res = await call(`/api/v1/workers/${created.nodeId}`, { method: "DELETE", cookie: admin });
    expect(res.status).toBe(204);
    expect(await env.DB.prepare("SELECT 1 FROM workers WHERE node_id = ?").bind(created.nodeId).first()).toBeNull();
    expect(await w.closed).toBe(4003);

    await expect(connectRegisteredWorker(created)).rejects.toThrow(/upgrade refused/);
    expect((await call(`/api/v1/workers/${created.nodeId}`, { method: "DELETE", cookie: admin })).status).toBe(404);
  });

  it("deletes a worker that never connected", async () => {
    const admin = await signInAdmin();
    const created = await createWorker(admin);
    expect((await call(`/api/v1/workers/${created.nodeId}`, { method: "DELETE", cookie: admin })).status).toBe(204);
  });

  it("answers 404 for an unknown node", async () => {
    const admin = await signInAdmin();
    const res = await callJson("/api/v1/workers/00000000-0000-0000-0000-000000000000", { method: "DELETE", cookie: admin });
    expect(res).toMatchObject({ status: 404, body: { error: "worker not found", code: "not_found" } });
  });
});

describe("GET /api/v1/workers/:node_id/startup-command", () => {
  it("always answers 410", async () => {
    const admin = await signInAdmin();
    const created = await createWorker(admin);
    for (const id of [created.nodeId, "unknown"]) {
      const res = await callJson<{ error: string }>(`/api/v1/workers/${id}/startup-command`, { cookie: admin });
      expect(res.status).toBe(410);
      expect(res.body.error).toMatch(/only once/);
      expect(res.body.error).not.toContain(created.secret);
    }
  });
});
