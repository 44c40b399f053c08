/**
 * A task whose final D1 write fails (here: the tasks table is out of reach, as on a full
 * disk) must still end once D1 answers again, and free its request_id. The real Task
 * object, its alarm and D1 are used; the failure is made by renaming the table away.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { taskObject } from "../src/objects/task.ts";
import { callJson, newAccountWithToken, waitFor } from "./helpers.ts";
import { connectTestWorker, type TestReply, workersClosedAfterEach } from "./worker-harness.ts";

interface TaskBody {
  task_id: string;
  status: string;
  result?: unknown;
  error?: { code: string; message: string };
}

const workers = workersClosedAfterEach();

function setTasksTableReachable(reachable: boolean): Promise<unknown> {
  return env.DB.prepare(
    reachable ? "ALTER TABLE tasks_unreachable RENAME TO tasks" : "ALTER TABLE tasks RENAME TO tasks_unreachable",
  ).run();
}

async function statusInD1(taskId: string): Promise<string | null> {
  return env.DB.prepare("SELECT status FROM tasks WHERE id = ?").bind(taskId).first<string>("status");
}

interface StoredView {
  outcome?: { status: string };
  attempts?: number;
}

function taskStorage(accountId: string, taskId: string): Promise<{ stored: StoredView | undefined; alarm: number | null }> {
  return runInDurableObject(taskObject(env, accountId), async (_o, state) => ({
    stored: await state.storage.get<StoredView>(`task:${taskId}`),
    alarm: await state.storage.getAlarm(),
  }));
}

/** Makes the task's retry due now, as if its backoff had passed. */
function retryDueNow(accountId: string, taskId: string): Promise<void> {
  return runInDurableObject(taskObject(env, accountId), async (_o, state) => {
    const stored = await state.storage.get<StoredView>(`task:${taskId}`);
    await state.storage.put(`task:${taskId}`, { ...stored, alarmAt: Date.now() });
  });
}

describe("a task whose final D1 write fails", () => {
  it("keeps its record and alarm, retries from the alarm, then ends and frees its request_id", async () => {
    const release: Array<(r: TestReply) => void> = [];
    const w = await connectTestWorker({
      handler: () => new Promise<TestReply>((resolve) => release.push(resolve)),
    });
    workers.push(w);
    await w.acked;
    const { token, accountId } = await newAccountWithToken();
    const create = () =>
      callJson<TaskBody>("/api/v1/tasks", {
        method: "POST",
        bearer: token,
        body: { capability: "echo", input: { message: "hi" }, mode: "async", request_id: "d1-outage" },
      });
    const started = await create();
    expect(started.status).toBe(202);
    const taskId = started.body.task_id;
    await waitFor(async () => release.length === 1);

    await setTasksTableReachable(false);
    let restored = false;
    try {
      release[0]?.({ payload: { message: "hi" } });
      // The outcome is known but could not be written: it is kept, with an alarm to retry.
      const kept = await waitFor(async () => {
        const s = await taskStorage(accountId, taskId);
        return s.stored?.outcome ? s : null;
      });
      expect(kept.stored?.outcome?.status).toBe("succeeded");
      expect(kept.alarm).not.toBeNull();

      // A retry while D1 still fails keeps everything and backs off.
      const stub = taskObject(env, accountId);
      await retryDueNow(accountId, taskId);
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      const again = await taskStorage(accountId, taskId);
      expect(again.stored?.attempts).toBe(2);
      expect(again.alarm).toBeGreaterThan(Date.now() + 1000);

      await setTasksTableReachable(true);
      restored = true;
      // Until the retry runs, D1 still shows the task unfinished and its request_id taken.
      expect(await statusInD1(taskId)).not.toBe("succeeded");
      expect((await create()).status).toBe(409);

      await retryDueNow(accountId, taskId);
      expect(await runDurableObjectAlarm(stub)).toBe(true);
    } finally {
      if (!restored) await setTasksTableReachable(true);
    }
    expect(await statusInD1(taskId)).toBe("succeeded");
    expect(await taskStorage(accountId, taskId)).toEqual({ stored: undefined, alarm: null });
    const polled = await callJson<TaskBody>(`/api/v1/tasks/${taskId}`, { bearer: token });
    expect(polled.body).toMatchObject({ status: "succeeded", result: { message: "hi" } });
    // The request_id now answers with the finished task instead of 409.
    const reused = await create();
    expect(reused.status).toBe(200);
    expect(reused.body).toMatchObject({ task_id: taskId, status: "succeeded" });
  });

  it("answers a sync caller with the outcome even while D1 refuses to record it", async () => {
    const w = await connectTestWorker({
      handler: async (_d, payload) => {
        await setTasksTableReachable(false);
        return { payload };
      },
    });
    workers.push(w);
    await w.acked;
    const { token, accountId } = await newAccountWithToken();
    let res: Awaited<ReturnType<typeof callJson<TaskBody>>>;
    try {
      res = await callJson<TaskBody>("/api/v1/tasks", {
        method: "POST",
        bearer: token,
        body: { capability: "echo", input: { message: "sync" }, mode: "sync" },
      });
    } finally {
      await setTasksTableReachable(true);
    }
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "succeeded", result: { message: "sync" } });
    await retryDueNow(accountId, res.body.task_id);
    expect(await runDurableObjectAlarm(taskObject(env, accountId))).toBe(true);
    expect(await statusInD1(res.body.task_id)).toBe("succeeded");
  });
});
