import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { markUnfinishedTasksRestarted, pruneFinishedTasks, runScheduled } from "../src/lib/maintenance.ts";
import { nodeRegistryStub } from "../src/objects/node-registry.ts";
import { taskObject } from "../src/objects/task.ts";
import type { TaskBody } from "../src/routes/tasks.ts";
import { call, callJson, newAccountWithToken, sleep, waitFor } from "./helpers.ts";
import {
  connectTestWorker,
  offering,
  type TestReply,
  type TestWorker,
  type TestWorkerOptions,
  terminalReply,
  workersClosedAfterEach,
} from "./worker-harness.ts";

const TASKS = "/api/v1/tasks";
let token = "";
let otherToken = "";
let accountId = "";

beforeAll(async () => {
  const account = await newAccountWithToken();
  token = account.token;
  accountId = account.accountId;
  otherToken = (await newAccountWithToken()).token;
});

// The next test places work: wait until the console has noticed the sockets went away.
const workers = workersClosedAfterEach(() => waitFor(async () => (await nodeRegistryStub(env).list()).length === 0));

async function worker(opts: TestWorkerOptions = {}): Promise<TestWorker> {
  const w = await connectTestWorker({
    capabilities: offering("echo", "pythonExec"),
    ...opts,
  });
  workers.push(w);
  await w.acked;
  return w;
}

/** A handler that answers after `ms` (echo semantics). */
function slowEcho(ms: number) {
  return async (_d: unknown, payload: unknown): Promise<TestReply> => {
    await sleep(ms);
    return { payload: { message: (payload as { message: string }).message } };
  };
}

function create(body: unknown, bearer = token) {
  return callJson<TaskBody & { error?: unknown }>(TASKS, { method: "POST", bearer, body });
}

async function get(taskId: string, bearer = token) {
  return callJson<TaskBody>(`${TASKS}/${taskId}`, { bearer });
}

async function pollUntilDone(taskId: string, ms = 5_000): Promise<TaskBody> {
  const until = Date.now() + ms;
  for (;;) {
    const res = await get(taskId);
    expect(res.status).toBe(200);
    if (!["queued", "dispatched", "running"].includes(res.body.status)) return res.body;
    if (Date.now() > until) throw new Error(`task ${taskId} still ${res.body.status}`);
    await sleep(25);
  }
}

async function rowCount(): Promise<number> {
  const r = await env.DB.prepare("SELECT count(*) AS n FROM tasks").first<{ n: number }>();
  return r?.n ?? 0;
}

describe("tasks: authentication", () => {
  it.each([
    ["no token", undefined],
    ["an unknown token", "obx_not_a_real_token"],
  ])("answers 401 with %s", async (_label, bearer) => {
    const res = await callJson(TASKS, {
      method: "POST",
      body: { capability: "echo", input: { message: "hi" } },
      ...(bearer ? { bearer } : {}),
    });
    expect(res.status).toBe(401);
    expect(typeof (res.body as { error: unknown }).error).toBe("string");
    const got = await callJson(`${TASKS}/task_000`, bearer ? { bearer } : {});
    expect(got.status).toBe(401);
  });
});

describe("tasks: bad input is refused with 400 and leaves nothing behind", () => {
  it.each<[string, unknown, RegExp]>([
    [
      "unknown capability",
      { capability: "rm -rf", input: {} },
      /^capability: must be one of echo, pythonExec, terminalExec, terminalResource$/,
    ],
    ["missing capability", { input: { message: "x" } }, /^capability: is required$/],
    ["missing input", { capability: "echo" }, /^input: is required$/],
    ["input is an array", { capability: "echo", input: ["hi"] }, /^input: must be a JSON object$/],
    ["input is a string", { capability: "echo", input: "hi" }, /^input: must be a JSON object$/],
    ["input is null", { capability: "echo", input: null }, /^input: must be a JSON object$/],
    ["blank echo message", { capability: "echo", input: { message: "  " } }, /^input\.message: must not be blank$/],
    ["echo message not a string", { capability: "echo", input: { message: 5 } }, /^input\.message: must be a string$/],
    [
      "unknown input field",
      { capability: "pythonExec", input: { code: "print(1)", image: "x" } },
      /^input: unknown field: image$/,
    ],
    ["timeout inside input", { capability: "echo", input: { message: "x", timeout_ms: 5 } }, /timeout_ms.*task's timeout_ms/],
    ["missing python code", { capability: "pythonExec", input: {} }, /^input\.code: is required$/],
    [
      "bad terminalResource action",
      { capability: "terminalResource", input: { session_id: "s", file_path: "/a", action: "write" } },
      /^input\.action: must be validate or read$/,
    ],
    ["bad mode", { capability: "echo", input: { message: "x" }, mode: "later" }, /^mode: must be sync, async or auto$/],
    [
      "wait_ms 0",
      { capability: "echo", input: { message: "x" }, wait_ms: 0 },
      /^wait_ms: must be an integer between 1 and 60000$/,
    ],
    ["wait_ms too big", { capability: "echo", input: { message: "x" }, wait_ms: 60_001 }, /^wait_ms: /],
    [
      "timeout_ms 0",
      { capability: "echo", input: { message: "x" }, timeout_ms: 0 },
      /^timeout_ms: must be an integer between 1 and 600000$/,
    ],
    ["timeout_ms too big", { capability: "echo", input: { message: "x" }, timeout_ms: 600_001 }, /^timeout_ms: /],
    ["fractional timeout", { capability: "echo", input: { message: "x" }, timeout_ms: 1.5 }, /^timeout_ms: /],
    ["unknown top-level field", { capability: "echo", input: { message: "x" }, priority: 1 }, /unknown field: priority/],
    ["blank request_id", { capability: "echo", input: { message: "x" }, request_id: " " }, /^request_id: must not be blank$/],
  ])("%s", async (_label, body, message) => {
    const before = await rowCount();
    const res = await create(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(message);
    expect(await rowCount()).toBe(before);
  });

  it("refuses a body that is not JSON", async () => {
    const res = await callJson(TASKS, {
      method: "POST",
      bearer: token,
      body: "{nope",
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: expect.stringMatching(/JSON/), code: "invalid_argument" });
  });
});

describe("tasks: lookups", () => {
  it("answers 404 for a missing task, on GET and cancel", async () => {
    const got = await get("task_doesnotexist");
    expect(got.status).toBe(404);
    expect(got.body).toEqual({ error: "task not found", code: "not_found" });
    const canceled = await callJson(`${TASKS}/task_doesnotexist/cancel`, { method: "POST", bearer: token });
    expect(canceled.status).toBe(404);
  });
});

describe("tasks: without a worker", () => {
  it("fails with 503 no_worker and records the failure", async () => {
    const res = await create({ capability: "pythonExec", input: { code: "print(1)" }, mode: "sync" });
    expect(res.status).toBe(503);
    expect(res.body.status).toBe("failed");
    expect(res.body.error?.code).toBe("no_worker");
    expect(res.body.status_url).toBeUndefined();
    expect(res.body.completed_at).toBeDefined();
    const again = await get(res.body.task_id);
    expect(again.body).toEqual(res.body);
  });
});

describe("tasks: running on a worker", () => {
  it("sync: 200 with the result, and the snapshot matches the contract", async () => {
    const w = await worker();
    const res = await create({ capability: "echo", input: { message: "hello" }, mode: "sync" });
    expect(res.status).toBe(200);
    const body = res.body;
    expect(body).toMatchObject({
      capability: "echo",
      status: "succeeded",
      result: { message: "hello" },
      request_id: null,
    });
    expect(body.task_id).toMatch(/^task_/);
    expect(body.error).toBeUndefined();
    expect(body.status_url).toBeUndefined();
    for (const t of [body.created_at, body.updated_at, body.deadline_at, body.completed_at]) {
      expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    }
    expect(Date.parse(body.deadline_at) - Date.parse(body.created_at)).toBe(60_000);
    // The worker saw the task's command id.
    expect(w.dispatches.map((d) => d.commandId)).toContain(body.command_id);
    const again = await get(body.task_id);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(body);
  });

  it("a sync answer is what D1 holds: a poll and a repeated request_id right after it see the same ended task", async () => {
    await worker();
    for (let i = 0; i < 10; i++) {
      const request_id = i % 2 === 0 ? `same-${crypto.randomUUID()}` : undefined;
      const body = { capability: "echo", input: { message: `m${i}` }, mode: "sync", ...(request_id ? { request_id } : {}) };
      const res = await create(body);
      expect(res.status).toBe(200);
      const [polled, repeated] = await Promise.all([get(res.body.task_id), request_id ? create(body) : null]);
      expect(polled.body).toEqual(res.body);
      if (repeated) expect(repeated.body).toEqual(res.body);
    }
  });

  it("async: 202 at once with status_url, and the task finishes after the client has gone", async () => {
    await worker({ handler: slowEcho(300) });
    const res = await create({ capability: "echo", input: { message: "later" }, mode: "async" });
    expect(res.status).toBe(202);
    expect(["queued", "dispatched", "running"]).toContain(res.body.status);
    expect(res.body.status_url).toBe(`/api/v1/tasks/${res.body.task_id}`);
    expect(res.body.completed_at).toBeUndefined();
    const done = await pollUntilDone(res.body.task_id);
    expect(done.status).toBe("succeeded");
    expect(done.result).toEqual({ message: "later" });
  });

  it("auto: waits up to wait_ms, then 202; a quick task answers 200", async () => {
    await worker({ handler: slowEcho(400) });
    const started = Date.now();
    const slow = await create({ capability: "echo", input: { message: "slow" }, wait_ms: 100 });
    expect(slow.status).toBe(202);
    expect(Date.now() - started).toBeLessThan(400);
    expect((await pollUntilDone(slow.body.task_id)).status).toBe("succeeded");

    const quick = await create({ capability: "echo", input: { message: "quick" }, wait_ms: 5_000 });
    expect(quick.status).toBe(200);
    expect(quick.body.result).toEqual({ message: "quick" });
  });

  it("moves through running before it ends", async () => {
    await worker({ handler: slowEcho(400) });
    const res = await create({ capability: "echo", input: { message: "x" }, mode: "async" });
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const s = (await get(res.body.task_id)).body.status;
      seen.add(s);
      if (s === "succeeded") break;
      await sleep(20);
    }
    expect(seen.has("running")).toBe(true);
    expect(seen.has("succeeded")).toBe(true);
  });

  it("times out at timeout_ms with 504, and the worker is told to stop", async () => {
    const w = await worker({ handler: () => "no-reply" });
    const started = Date.now();
    const res = await create({ capability: "pythonExec", input: { code: "while True: pass" }, mode: "sync", timeout_ms: 500 });
    expect(res.status).toBe(504);
    expect(res.body.status).toBe("timeout");
    expect(res.body.error?.code).toBe("deadline_exceeded");
    expect(Date.now() - started).toBeLessThan(3_000);
    await waitFor(() => w.cancels.includes(res.body.command_id));
  });

  it("maps a worker failure to 502 with the error", async () => {
    await worker({ handler: () => ({ error: { code: "exploded", message: "the container exploded" } }) });
    const res = await create({ capability: "echo", input: { message: "x" }, mode: "sync" });
    expect(res.status).toBe(502);
    expect(res.body.status).toBe("failed");
    expect(res.body.error?.code).toBe("worker_error");
    expect(res.body.error?.message).toContain("the container exploded");
  });

  it("answers 429 no_capacity when every slot is taken", async () => {
    await worker({ capabilities: [{ name: "echo", maxInflight: 1 }], handler: () => "no-reply" });
    const first = await create({ capability: "echo", input: { message: "busy" }, mode: "async", timeout_ms: 5_000 });
    expect(first.status).toBe(202);
    await waitFor(async () => (await get(first.body.task_id)).body.status === "running");
    const second = await create({ capability: "echo", input: { message: "no room" }, mode: "sync", timeout_ms: 300 });
    expect(second.status).toBe(429);
    expect(second.body.error?.code).toBe("no_capacity");
    await callJson(`${TASKS}/${first.body.task_id}/cancel`, { method: "POST", bearer: token });
  });
});

describe("tasks: other capabilities and large results", () => {
  it("runs terminalExec through the account's session and keeps the session for the next task", async () => {
    const seen: string[] = [];
    await worker({
      capabilities: [{ name: "terminalExec", maxInflight: 4 }],
      handler: (_d, raw) => {
        const p = raw as { session_id: string; command: string };
        seen.push(p.session_id);
        return terminalReply(p.session_id, { created: seen.length === 1, stdout: `ran ${p.command}\n` });
      },
    });
    const first = await create({ capability: "terminalExec", input: { command: "touch a" }, mode: "sync" });
    expect(first.status).toBe(200);
    const result = first.body.result as { session_id: string; created: boolean; stdout: string };
    expect(result).toMatchObject({ created: true, stdout: "ran touch a\n", exit_code: 0 });
    const second = await create({
      capability: "terminalExec",
      input: { command: "ls", session_id: result.session_id },
      mode: "sync",
    });
    expect(second.status).toBe(200);
    expect(second.body.result).toMatchObject({ session_id: result.session_id, created: false });
    expect(new Set(seen).size).toBe(1);

    const missing = await create({
      capability: "terminalExec",
      input: { command: "ls", session_id: "sess_unknown" },
      mode: "sync",
    });
    expect(missing.status).toBe(502);
    expect(missing.body.error?.code).toBe("session_not_found");
  });

  it("reports a result too large to keep as a failure instead of losing the task", async () => {
    await worker({ handler: () => ({ payload: { message: "x".repeat(2_000_000) } }) });
    const res = await create({ capability: "echo", input: { message: "big" }, mode: "sync" });
    expect(res.status).toBe(502);
    expect(res.body.status).toBe("failed");
    expect(res.body.error?.code).toBe("payload_too_large");
    expect(res.body.error?.message).toMatch(/print less output/);
  });
});

describe("tasks: cancel", () => {
  it("cancels a running task: 200, the worker gets a cancel frame, a second cancel is 409 with the snapshot", async () => {
    const w = await worker({ handler: () => "no-reply" });
    const res = await create({ capability: "pythonExec", input: { code: "import time; time.sleep(60)" }, mode: "async" });
    expect(res.status).toBe(202);
    await waitFor(() => w.dispatches.some((d) => d.commandId === res.body.command_id));

    const canceled = await callJson<TaskBody>(`${TASKS}/${res.body.task_id}/cancel`, { method: "POST", bearer: token });
    expect(canceled.status).toBe(200);
    expect(canceled.body.status).toBe("canceled");
    expect(canceled.body.error?.code).toBe("canceled");
    expect(canceled.body.completed_at).toBeDefined();
    await waitFor(() => w.cancels.includes(res.body.command_id));

    const again = await callJson<TaskBody>(`${TASKS}/${res.body.task_id}/cancel`, { method: "POST", bearer: token });
    expect(again.status).toBe(409);
    expect(again.body).toEqual(canceled.body);
    expect((await get(res.body.task_id)).body.status).toBe("canceled");
  });

  it("cancels a running terminalExec task through its session: the worker gets a cancel frame and the session ends", async () => {
    const w = await worker({ capabilities: offering("terminalExec"), handler: () => "no-reply" });
    const res = await create({
      capability: "terminalExec",
      input: { command: "sleep 60", session_id: "cancel-sess", create_if_missing: true },
      mode: "async",
    });
    expect(res.status).toBe(202);
    await waitFor(() => w.dispatches.some((d) => d.capability === "terminalExec"));
    const dispatched = w.dispatches.find((d) => d.capability === "terminalExec");
    const during = await callJson<{ busy: boolean }>("/api/v1/sessions/cancel-sess", { bearer: token });
    expect(during.status).toBe(200);
    expect(during.body.busy).toBe(true);

    const canceled = await callJson<TaskBody>(`${TASKS}/${res.body.task_id}/cancel`, { method: "POST", bearer: token });
    expect(canceled.status).toBe(200);
    expect(canceled.body.status).toBe("canceled");
    await waitFor(() => dispatched !== undefined && w.cancels.includes(dispatched.commandId));
    // A canceled command ends its session (the worker removes the container): it is gone.
    await waitFor(async () => (await callJson("/api/v1/sessions/cancel-sess", { bearer: token })).status === 404);
  });

  it("a sync request whose task is canceled meanwhile answers 409", async () => {
    const w = await worker({ handler: () => "no-reply" });
    const pending = create({ capability: "echo", input: { message: "x" }, mode: "sync", request_id: "cancel-me" });
    await waitFor(() => w.dispatches.length > 0);
    const row = await env.DB.prepare("SELECT id FROM tasks WHERE request_id = 'cancel-me'").first<{ id: string }>();
    const canceled = await call(`${TASKS}/${row?.id}/cancel`, { method: "POST", bearer: token });
    expect(canceled.status).toBe(200);
    const res = await pending;
    expect(res.status).toBe(409);
    expect(res.body.status).toBe("canceled");
  });

  it("a finished task cannot be canceled: 409 with the snapshot", async () => {
    await worker();
    const res = await create({ capability: "echo", input: { message: "done" }, mode: "sync" });
    const canceled = await callJson<TaskBody>(`${TASKS}/${res.body.task_id}/cancel`, { method: "POST", bearer: token });
    expect(canceled.status).toBe(409);
    expect(canceled.body).toEqual(res.body);
  });
});

describe("tasks: accounts and request_id", () => {
  it("another account's task is a 404", async () => {
    await worker();
    const res = await create({ capability: "echo", input: { message: "mine" }, mode: "sync" });
    expect((await get(res.body.task_id, otherToken)).status).toBe(404);
    const cancel = await callJson(`${TASKS}/${res.body.task_id}/cancel`, { method: "POST", bearer: otherToken });
    expect(cancel.status).toBe(404);
    expect(cancel.body).toEqual({ error: "task not found", code: "not_found" });
  });

  it("the same request_id while running is 409; after it ends, the same task comes back", async () => {
    const w = await worker({ handler: slowEcho(400) });
    const first = await create({ capability: "echo", input: { message: "once" }, mode: "async", request_id: "job-1" });
    expect(first.status).toBe(202);
    expect(first.body.request_id).toBe("job-1");
    const dup = await create({ capability: "echo", input: { message: "once" }, mode: "async", request_id: "job-1" });
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({ task_id: first.body.task_id, error: expect.stringMatching(/still/), code: "conflict" });

    const done = await pollUntilDone(first.body.task_id);
    const replay = await create({ capability: "echo", input: { message: "once" }, mode: "sync", request_id: "job-1" });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(done);
    expect(w.dispatches.length).toBe(1);

    // request_id is scoped to the account.
    const other = await create(
      { capability: "echo", input: { message: "theirs" }, mode: "sync", request_id: "job-1" },
      otherToken,
    );
    expect(other.status).toBe(200);
    expect(other.body.task_id).not.toBe(first.body.task_id);
  });
});

describe("tasks: maintenance", () => {
  it("marks unfinished tasks failed with console_restarted, leaving finished ones alone", async () => {
    await worker({ capabilities: [{ name: "echo", maxInflight: 4 }], handler: () => "no-reply" });
    const running = await create({ capability: "echo", input: { message: "x" }, mode: "async", timeout_ms: 10_000 });
    await waitFor(async () => (await get(running.body.task_id)).body.status === "running");
    const finished = await create({ capability: "pythonExec", input: { code: "1" }, mode: "sync", timeout_ms: 10_000 });
    expect(finished.status).not.toBe(202);

    // Tasks of the new run (created after the boot) are left alone.
    expect(await markUnfinishedTasksRestarted(env.DB, { createdBefore: Date.parse(running.body.created_at) })).toBe(0);
    expect((await get(running.body.task_id)).body.status).toBe("running");
    expect(await markUnfinishedTasksRestarted(env.DB)).toBeGreaterThanOrEqual(1);
    const after = await get(running.body.task_id);
    expect(after.body.status).toBe("failed");
    expect(after.body.error?.code).toBe("console_restarted");
    expect((await get(finished.body.task_id)).body).toEqual(finished.body);
    // A terminal row is never overwritten, not even by the run that was still going.
    const cancel = await callJson<TaskBody>(`${TASKS}/${running.body.task_id}/cancel`, { method: "POST", bearer: token });
    expect(cancel.status).toBe(409);
    expect(cancel.body.error?.code).toBe("console_restarted");
  });

  it("the daily run ends tasks left unfinished an hour past their deadline, and only those", async () => {
    const insert = async (deadlineAt: number) => {
      const id = `task_left_${crypto.randomUUID().slice(0, 8)}`;
      await env.DB.prepare(
        "INSERT INTO tasks (id, account_id, command_id, capability, status, input, created_at, updated_at, deadline_at) VALUES (?, ?, ?, 'echo', 'running', '{}', ?, ?, ?)",
      )
        .bind(id, accountId, `cmd_${id}`, deadlineAt - 60_000, deadlineAt - 60_000, deadlineAt)
        .run();
      return id;
    };
    const abandoned = await insert(Date.now() - 2 * 3_600_000);
    const recent = await insert(Date.now() - 60_000);
    await runScheduled(env);
    const after = await get(abandoned);
    expect(after.body.status).toBe("failed");
    expect(after.body.error?.code).toBe("console_restarted");
    expect((await get(recent)).body.status).toBe("running");
  });

  it("prunes finished tasks older than the retention, and only those", async () => {
    const res = await create({ capability: "pythonExec", input: { code: "1" }, mode: "sync" });
    const old = Date.now() - 31 * 86_400_000;
    await env.DB.prepare("UPDATE tasks SET completed_at = ? WHERE id = ?").bind(old, res.body.task_id).run();
    const recent = await create({ capability: "pythonExec", input: { code: "2" }, mode: "sync" });

    await runScheduled(env);
    expect((await get(res.body.task_id)).status).toBe(404);
    expect((await get(recent.body.task_id)).status).toBe(200);
    expect(await pruneFinishedTasks(env.DB, 30)).toBe(0);
  });
});

describe("tasks: the Task object on its own", () => {
  /** Inserts a task row the way POST /tasks does, without starting it. */
  async function insertQueued(id: string, status = "queued") {
    const now = Date.now();
    await env.DB.prepare(
      "INSERT INTO tasks (id, account_id, command_id, capability, status, input, created_at, updated_at, deadline_at) VALUES (?, ?, ?, 'echo', ?, ?, ?, ?, ?)",
    )
      .bind(id, accountId, `cmd_${id}`, status, JSON.stringify({ message: "x" }), now, now, now + 60_000)
      .run();
    return (await env.DB.prepare("SELECT * FROM tasks WHERE id = ?").bind(id).first()) as Record<string, unknown>;
  }

  it("a cancel that arrives before the start wins: the task never runs", async () => {
    const w = await worker();
    const id = `task_early_${crypto.randomUUID().slice(0, 8)}`;
    await insertQueued(id);
    const stub = taskObject(env, accountId);
    const canceled = await stub.cancel(id);
    expect(canceled.canceled).toBe(true);
    expect(canceled.row?.status).toBe("canceled");
    const row = await env.DB.prepare("SELECT * FROM tasks WHERE id = ?").bind(id).first<{ status: string }>();
    const started = await stub.start(
      {
        id,
        accountId,
        requestId: null,
        commandId: `cmd_${id}`,
        capability: "echo",
        status: "queued",
        input: JSON.stringify({ message: "x" }),
        result: null,
        errorCode: null,
        errorMessage: null,
        createdAt: Date.now(),
        updatedAt: Date.now(),
        deadlineAt: Date.now() + 60_000,
        completedAt: null,
      },
      1_000,
    );
    expect(row?.status).toBe("canceled");
    expect(started?.status).toBe("canceled");
    expect(w.dispatches).toHaveLength(0);
  });

  it("an alarm before the deadline only re-arms: the run goes on", async () => {
    const w = await worker({ handler: () => "no-reply" });
    // An account of its own: its tasks' object holds nothing else.
    const own = await newAccountWithToken();
    const res = await create({ capability: "echo", input: { message: "long" }, mode: "async", timeout_ms: 120_000 }, own.token);
    await waitFor(() => w.dispatches.some((d) => d.commandId === res.body.command_id));
    const stub = taskObject(env, own.accountId);
    // The record and its alarm are written once the run is 150 ms old.
    const firstAlarm = await waitFor(() => runInDurableObject(stub, (_i, state) => state.storage.getAlarm()));
    expect(firstAlarm ?? 0).toBeLessThan(Date.parse(res.body.deadline_at));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // Progress is written once the run is 150 ms old: the run goes on and gets there.
    await waitFor(async () => (await get(res.body.task_id, own.token)).body.status === "running");
    expect(w.cancels).not.toContain(res.body.command_id);
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).not.toBeNull();
    const cancel = await callJson<TaskBody>(`${TASKS}/${res.body.task_id}/cancel`, { method: "POST", bearer: own.token });
    expect(cancel.status).toBe(200);
  });

  it("a run that ends quickly writes nothing to its object's storage; a longer one keeps its record until it ends", async () => {
    const slow = slowEcho(400);
    await worker({
      handler: (d, payload) =>
        (payload as { message: string }).message === "long" ? slow(d, payload) : { payload: { message: "quick" } },
    });
    // An account of its own: its tasks' object holds nothing else.
    const own = await newAccountWithToken();
    const storage = () =>
      runInDurableObject(taskObject(env, own.accountId), async (_i, state) => ({
        keys: [...(await state.storage.list()).keys()],
        alarm: await state.storage.getAlarm(),
      }));
    const quick = await create({ capability: "echo", input: { message: "quick" }, mode: "sync" }, own.token);
    expect(quick.status).toBe(200);
    expect(await storage()).toEqual({ keys: [], alarm: null });
    const long = await create({ capability: "echo", input: { message: "long" }, mode: "async" }, own.token);
    // Kept while the run goes on, so an alarm can settle it if the object loses the run.
    const kept = await waitFor(async () => {
      const s = await storage();
      return s.alarm !== null ? s : null;
    });
    expect(kept.keys).toEqual([`task:${long.body.task_id}`]);
    const done = await waitFor(async () => {
      const r = await get(long.body.task_id, own.token);
      return r.body.status === "succeeded" ? r : null;
    });
    expect(done.body.result).toEqual({ message: "long" });
    await waitFor(async () => (await storage()).alarm === null);
    expect(await storage()).toEqual({ keys: [], alarm: null });
  });

  it("a task whose row cannot be inserted answers 500, leaves no row, and stops what it placed", async () => {
    const w = await worker({ handler: () => "no-reply" });
    const before = await rowCount();
    await env.DB.prepare("ALTER TABLE tasks RENAME TO tasks_unreachable").run();
    let res: Awaited<ReturnType<typeof create>>;
    try {
      res = await create({ capability: "echo", input: { message: "x" }, mode: "sync" });
    } finally {
      await env.DB.prepare("ALTER TABLE tasks_unreachable RENAME TO tasks").run();
    }
    expect(res.status).toBe(500);
    expect(res.body.error).toBeTypeOf("string");
    expect(await rowCount()).toBe(before);
    // A command that reached the worker before the insert failed is told to stop.
    await waitFor(() => w.dispatches.every((d) => w.cancels.includes(d.commandId)));
  });

  it.each([
    ["its account's object", (id: string) => ({ stub: taskObject(env, accountId), key: `task:${id}` })],
    // Objects of the one-object-per-task era (their alarms still fire after an upgrade).
    ["a one-task object of an earlier version", (id: string) => ({ stub: env.TASK.get(env.TASK.idFromName(id)), key: "task" })],
  ])("the alarm of %s settles a run it lost (restart or eviction) instead of leaving it running", async (_label, where) => {
    const id = `task_lost_${crypto.randomUUID().slice(0, 8)}`;
    await insertQueued(id, "running");
    const { stub, key } = where(id);
    // What the object remembers of an unfinished task, with no run in memory: as after a restart.
    await runInDurableObject(stub, async (_instance, state) => {
      await state.storage.put(key, { taskId: id, commandId: `cmd_${id}`, deadlineAt: Date.now() });
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const after = await get(id);
    expect(after.body.status).toBe("failed");
    expect(after.body.error).toEqual({ code: "console_restarted", message: "the console restarted before the task finished" });
    // The object forgot the task: a cancel now is a 409 with the snapshot.
    const cancel = await callJson<TaskBody>(`${TASKS}/${id}/cancel`, { method: "POST", bearer: token });
    expect(cancel.status).toBe(409);
    expect(await runInDurableObject(stub, (_i, state) => state.storage.get(key))).toBeUndefined();
  });
});
