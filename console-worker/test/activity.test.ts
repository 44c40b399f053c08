import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { callJson, createAccount, signInAdmin, type TestAccount } from "./helpers.ts";

interface TaskItem {
  task_id: string;
  request_id: string | null;
  capability: string;
  status: string;
  error_code: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  duration_ms: number | null;
}

interface SessionItem {
  session_id: string;
  node_id: string;
  created_at: string;
  last_used_at: string;
  lease_expires_at: string;
}

interface List<T> {
  items: T[];
  total: number;
}

/** A row as the Task Durable Object writes it; `completedAt` null means still running. */
async function insertTask(
  accountId: string,
  id: string,
  createdAt: number,
  opts: { status?: string; completedAt?: number | null; errorCode?: string | null; requestId?: string | null } = {},
): Promise<void> {
  const completedAt = opts.completedAt === undefined ? createdAt + 250 : opts.completedAt;
  await env.DB.prepare(
    `INSERT INTO tasks (id, account_id, request_id, command_id, capability, status, input, result,
       error_code, error_message, created_at, updated_at, deadline_at, completed_at)
     VALUES (?, ?, ?, ?, 'echo', ?, '{}', NULL, ?, NULL, ?, ?, ?, ?)`,
  )
    .bind(
      id,
      accountId,
      opts.requestId ?? null,
      `cmd_${id}`,
      opts.status ?? "succeeded",
      opts.errorCode ?? null,
      createdAt,
      completedAt ?? createdAt,
      createdAt + 60_000,
      completedAt,
    )
    .run();
}

async function insertSession(accountId: string, id: string, leaseExpiresAt: number): Promise<void> {
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO terminal_sessions (id, account_id, node_id, created_at, last_used_at, lease_expires_at)
     VALUES (?, ?, 'node-a', ?, ?, ?)`,
  )
    .bind(id, accountId, now - 60_000, now - 5_000, leaseExpiresAt)
    .run();
}

describe("GET /api/v1/console/tasks and /sessions", () => {
  let alice: TestAccount;
  let bob: TestAccount;
  const base = Date.parse("2026-03-01T10:00:00Z");

  beforeAll(async () => {
    const admin = await signInAdmin();
    alice = await createAccount(admin);
    bob = await createAccount(admin);
    await insertTask(alice.accountId, "task_a1", base, { requestId: "req-1" });
    await insertTask(alice.accountId, "task_a2", base + 1000, {
      status: "failed",
      errorCode: "no_worker",
      completedAt: base + 1012,
    });
    await insertTask(alice.accountId, "task_a3", base + 2000, { status: "running", completedAt: null });
    await insertTask(bob.accountId, "task_b1", base + 3000);
    await insertSession(alice.accountId, "sess_live", Date.now() + 90_000);
    await insertSession(alice.accountId, "sess_expired", Date.now() - 1_000);
    await insertSession(bob.accountId, "sess_bob", Date.now() + 90_000);
  });

  it.each(["/api/v1/console/tasks", "/api/v1/console/sessions"])("%s answers 401 without a session", async (path) => {
    const res = await callJson(path);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: "not signed in", code: "unauthenticated" });
  });

  it("lists only the signed-in account's tasks, newest first, with durations", async () => {
    const res = await callJson<List<TaskItem>>("/api/v1/console/tasks", { cookie: alice.cookie });
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(3);
    expect(res.body.items.map((t) => t.task_id)).toEqual(["task_a3", "task_a2", "task_a1"]);
    const [running, failed, ok] = res.body.items;
    expect(running).toMatchObject({ status: "running", completed_at: null, duration_ms: null });
    expect(failed).toMatchObject({ status: "failed", error_code: "no_worker", duration_ms: 12 });
    expect(ok).toEqual({
      task_id: "task_a1",
      request_id: "req-1",
      capability: "echo",
      status: "succeeded",
      error_code: null,
      created_at: "2026-03-01T10:00:00.000Z",
      updated_at: "2026-03-01T10:00:00.250Z",
      completed_at: "2026-03-01T10:00:00.250Z",
      duration_ms: 250,
    });
  });

  it("keeps another account's tasks out of sight", async () => {
    const res = await callJson<List<TaskItem>>("/api/v1/console/tasks", { cookie: bob.cookie });
    expect(res.body).toMatchObject({ total: 1, items: [{ task_id: "task_b1" }] });
  });

  it("honours limit while total counts every task", async () => {
    const res = await callJson<List<TaskItem>>("/api/v1/console/tasks?limit=1", { cookie: alice.cookie });
    expect(res.status).toBe(200);
    expect(res.body.items.map((t) => t.task_id)).toEqual(["task_a3"]);
    expect(res.body.total).toBe(3);
  });

  it.each([
    ["0", "limit: must be at least 1"],
    ["201", "limit: must be at most 200"],
    ["abc", "limit: must be an integer"],
    ["1.5", "limit: must be an integer"],
  ])("refuses limit=%s with 400", async (limit, message) => {
    const res = await callJson(`/api/v1/console/tasks?limit=${limit}`, { cookie: alice.cookie });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: message, code: "invalid_argument" });
  });

  it("lists the account's live terminal sessions only", async () => {
    const res = await callJson<List<SessionItem>>("/api/v1/console/sessions", { cookie: alice.cookie });
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(1);
    const [live] = res.body.items;
    expect(live?.session_id).toBe("sess_live");
    expect(live?.node_id).toBe("node-a");
    expect(Date.parse(live?.lease_expires_at ?? "")).toBeGreaterThan(Date.now());
    expect(Object.keys(live ?? {}).sort()).toEqual(["created_at", "last_used_at", "lease_expires_at", "node_id", "session_id"]);

    const other = await callJson<List<SessionItem>>("/api/v1/console/sessions", { cookie: bob.cookie });
    expect(other.body.items.map((s) => s.session_id)).toEqual(["sess_bob"]);
  });

  it("does not get in the way of sign-in on the same mount point", async () => {
    const res = await callJson("/api/v1/console/login", {
      method: "POST",
      body: { username: alice.username, password: "wrong" },
    });
    expect(res.status).toBe(401);
  });
});
