import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../src/index.ts";
import { BOOT_EVENT } from "../src/lib/maintenance.ts";
import { callJson, createWorker, signInAdmin } from "./helpers.ts";
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
