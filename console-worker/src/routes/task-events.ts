import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { AppEnv } from "../app-env.ts";
import type { OutputEvent } from "../lib/output-log.ts";
import { requireBearer } from "../middleware/bearer.ts";
import { isTerminalStatus, type TaskRow } from "../objects/task.ts";
import { findOwnTask, taskStub, toTaskBody } from "./tasks.ts";

/**
 * How often the stream looks again at a task that has no run in its object yet (the
 * start is still on its way) or any more (a run lost to a restart, which the task's alarm
 * settles at the deadline).
 */
const IDLE_POLL_MS = 250;
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

/**
 * `GET /api/v1/tasks/{id}/events` (bearer): the task's output as Server-Sent Events.
 * `event: output` with `{stream, data}` for every piece the program writes (from the
 * start, also for a client that connects late while the task runs), then one
 * `event: done` with the task snapshot (the body of `GET /api/v1/tasks/{id}`). A finished
 * task answers just `done`. Output events carry their index as `id`; a `Last-Event-ID`
 * resumes the replay after that event (an EventSource reconnecting gets no duplicates). Another account's task is 404, like a missing one.
 */
export const taskEventsRoutes = new Hono<AppEnv>().get("/:id/events", requireBearer(), async (c) => {
  const taskId = c.req.param("id");
  const found = await findOwnTask(c, taskId);
  const stub = taskStub(c, found);
  // An EventSource that reconnects names the last event it got: the replay resumes after it.
  const lastId = Number(c.req.header("last-event-id") ?? "-1");
  const resumeAfter = Number.isSafeInteger(lastId) && lastId >= 0 ? lastId : -1;
  return streamSSE(c, async (stream) => {
    let index = 0;
    const listener = async (event: OutputEvent): Promise<void> => {
      // Throwing tells the Task object this watcher is gone, so it stops delivering.
      if (stream.aborted) throw new Error("the client went away");
      const id = index;
      index += 1;
      if (id <= resumeAfter) return;
      await stream.writeSSE({ event: "output", id: String(id), data: JSON.stringify(event) });
    };
    const keepalive = setInterval(() => {
      if (!stream.aborted) stream.write(": keepalive\n\n").catch(() => {});
    }, KEEPALIVE_MS);
    try {
      let row: TaskRow = found;
      while (!isTerminalStatus(row.status)) {
        const now = await stub.watch(taskId, listener);
        if (stream.aborted) return;
        if (now === null) {
          // Its account was deleted meanwhile.
          await stream.writeSSE({ event: "error", data: JSON.stringify({ error: "task not found", code: "not_found" }) });
          return;
        }
        row = now;
        if (!isTerminalStatus(row.status)) await pause(IDLE_POLL_MS);
      }
      await stream.writeSSE({ event: "done", data: JSON.stringify(toTaskBody(row)) });
    } finally {
      clearInterval(keepalive);
    }
  });
});

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
