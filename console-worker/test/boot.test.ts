import {
  createExecutionContext,
  createScheduledController,
  env,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../src/index.ts";
import { BOOT_EVENT } from "../src/lib/maintenance.ts";
import { FIRST_MAINTENANCE_MS, nodeRegistryStub } from "../src/objects/node-registry.ts";
import { callJson, createAccount, createWorker, signInAdmin } from "./helpers.ts";
import { connectTestWorker } from "./worker-harness.ts";

const SESSION = "/api/v1/console/session";

/** Fires the self-host launcher's boot event with these variables on top of the test env. */
async function boot(vars: Record<string, string>): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: BOOT_EVENT, scheduledTime: Date.now() }), { ...env, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
}

describe("boot: a console that is still migrating", () => {
  it("answers 503 with Retry-After until the named migration is applied, then serves", async () => {
    const starting = await callJson(SESSION, { env: { CONSOLE_SCHEMA_MIGRATION: "9999_not_applied_yet.sql" } });
    expect(starting.status).toBe(503);
    expect(starting.headers.get("retry-after")).toBe("1");
    expect(starting.body).toEqual({ error: "the console is starting; retry shortly", code: "console_starting" });

    const last = env.TEST_MIGRATIONS.map((m) => m.name)
      .sort()
      .at(-1);
    expect(last).toBeDefined();
    const ready = await callJson(SESSION, { env: { CONSOLE_SCHEMA_MIGRATION: last } });
    expect(ready.status).toBe(401);
  });

  it("answers 503 (not 500) while not even the migrations table exists", async () => {
    await env.DB.exec("ALTER TABLE d1_migrations RENAME TO d1_migrations_hidden");
    try {
      const res = await callJson(SESSION, { env: { CONSOLE_SCHEMA_MIGRATION: "0001_next.sql" } });
      expect(res.status).toBe(503);
    } finally {
      await env.DB.exec("ALTER TABLE d1_migrations_hidden RENAME TO d1_migrations");
    }
  });
});

describe("boot: the local worker", () => {
  it("is registered by the boot event with the launcher's credential, once, and can connect", async () => {
    const nodeId = crypto.randomUUID();
    const secret = `obw_${crypto.randomUUID()}`;
    const vars = { CONSOLE_LOCAL_WORKER_ID: nodeId, CONSOLE_LOCAL_WORKER_SECRET: secret };
    await boot(vars);
    await boot(vars);
    const admin = await signInAdmin();
    const list = await callJson<{ items: { node_id: string; node_name: string }[] }>("/api/v1/workers?page_size=100", {
      cookie: admin,
    });
    expect(list.body.items.filter((w) => w.node_id === nodeId)).toEqual([expect.objectContaining({ node_name: "local" })]);

    const w = await connectTestWorker({ nodeId, secret, noProvision: true });
    await w.acked;
    w.close();

    // A new secret for the same id replaces the old one.
    const rekeyed = `obw_${crypto.randomUUID()}`;
    await boot({ ...vars, CONSOLE_LOCAL_WORKER_SECRET: rekeyed });
    const old = await connectTestWorker({ nodeId, secret, noProvision: true }).catch((err: unknown) => err);
    expect(old).toBeInstanceOf(Error);
    const fresh = await connectTestWorker({ nodeId, secret: rekeyed, noProvision: true });
    await fresh.acked;
    fresh.close();
  });

  it("registers nothing without a credential, and refuses a node id that is not a UUID", async () => {
    const admin = await signInAdmin();
    const count = async () => (await callJson<{ total: number }>("/api/v1/workers?page_size=1", { cookie: admin })).body.total;
    await createWorker(admin);
    const before = await count();
    await boot({});
    expect(await count()).toBe(before);
    await expect(
      boot({ CONSOLE_LOCAL_WORKER_ID: "local; DROP TABLE workers", CONSOLE_LOCAL_WORKER_SECRET: "x" }),
    ).rejects.toThrow(/UUID/);
    expect(await count()).toBe(before);
  });
});

describe("boot: the daily maintenance of a self-hosted console", () => {
  it("is armed by the boot event for a minute later, prunes old finished tasks when due, and arms the next day", async () => {
    const registry = nodeRegistryStub(env);
    const before = Date.now();
    await boot({});
    const due = await runInDurableObject(registry, (_, state) => state.storage.getAlarm());
    expect(due).not.toBeNull();
    expect(due).toBeGreaterThanOrEqual(before + FIRST_MAINTENANCE_MS);
    expect(due).toBeLessThanOrEqual(Date.now() + FIRST_MAINTENANCE_MS);

    // A task finished 31 days ago (the default retention is 30) and one finished today.
    const old = crypto.randomUUID();
    const recent = crypto.randomUUID();
    const account = (await createAccount(await signInAdmin())).accountId;
    const insert = (id: string, completedAt: number) =>
      env.DB.prepare(
        `INSERT INTO tasks (id, account_id, request_id, command_id, capability, status, input, result,
           error_code, error_message, created_at, updated_at, deadline_at, completed_at)
         VALUES (?, ?, NULL, ?, 'echo', 'succeeded', '{}', NULL, NULL, NULL, ?, ?, ?, ?)`,
      )
        .bind(id, account, `cmd_${id}`, completedAt - 1000, completedAt, completedAt + 60_000, completedAt)
        .run();
    await insert(old, Date.now() - 31 * 86_400_000);
    await insert(recent, Date.now() - 1000);

    expect(await runDurableObjectAlarm(registry)).toBe(true);
    const left = await env.DB.prepare("SELECT id FROM tasks WHERE account_id = ?").bind(account).all<{ id: string }>();
    expect(left.results.map((r) => r.id)).toEqual([recent]);
    const next = await runInDurableObject(registry, (_, state) => state.storage.getAlarm());
    expect(next).toBeGreaterThanOrEqual(before + 86_400_000 - 1000);
  });
});
