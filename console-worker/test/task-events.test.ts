import { EventSourceParserStream } from "eventsource-parser/stream";
import { beforeAll, describe, expect, it } from "vitest";
import { call, callJson, newAccountWithToken, sleep } from "./helpers.ts";
import { connectTestWorker, type TestReply, type TestWorker, workersClosedAfterEach } from "./worker-harness.ts";

interface TaskBody {
  task_id: string;
  status: string;
  result?: { output: string; stderr: string; exit_code: number };
}

interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
  at: number;
}

let token = "";
let otherToken = "";
beforeAll(async () => {
  token = (await newAccountWithToken()).token;
  otherToken = (await newAccountWithToken()).token;
});

const workers = workersClosedAfterEach();

/** Polls `check` until it holds (or fails the test after 5 s). */
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met within 5 s");
    await sleep(10);
  }
}

const LINES = 8;
const LINE_MS = 60;

/**
 * A worker whose pythonExec prints LINES lines LINE_MS apart (stdout, with one stderr line
 * in the middle and a multi-byte character split across two chunks), then answers.
 * `release` holds the answer back until the test says so.
 */
async function printingWorker(release?: Promise<void>, onWritten?: () => void): Promise<TestWorker> {
  const w = await connectTestWorker({
    capabilities: [{ name: "pythonExec", maxInflight: 4 }],
    handler: async (d, _payload, self): Promise<TestReply> => {
      let out = "";
      for (let i = 0; i < LINES; i++) {
        const line = `line ${i}\n`;
        self.output(d.commandId, "stdout", line);
        out += line;
        if (i === 3) self.output(d.commandId, "stderr", "warn\n");
        await sleep(LINE_MS);
      }
      // "é" is two bytes: send them in two chunks; the stream must show one character.
      const bytes = new TextEncoder().encode("é\n");
      self.send({ payload: { case: "outputChunk", value: { commandId: d.commandId, stream: 1, data: bytes.slice(0, 1) } } });
      self.send({ payload: { case: "outputChunk", value: { commandId: d.commandId, stream: 1, data: bytes.slice(1) } } });
      out += "é\n";
      onWritten?.();
      if (release) await release;
      return { payload: { output: out, stderr: "warn\n", exit_code: 0 } };
    },
  });
  workers.push(w);
  await w.acked;
  return w;
}

async function startTask(bearer = token): Promise<TaskBody> {
  const res = await callJson<TaskBody>("/api/v1/tasks", {
    method: "POST",
    bearer,
    body: { capability: "pythonExec", input: { code: "print(1)" }, mode: "async" },
  });
  expect(res.status).toBe(202);
  return res.body;
}

/** Reads a whole SSE answer, stamping each event with its arrival time; `onEvent` sees each as it comes. */
async function readEvents(res: Response, onEvent?: (e: SseEvent) => void): Promise<SseEvent[]> {
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const body = res.body;
  if (!body) throw new Error("no body");
  const events: SseEvent[] = [];
  const reader = body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return events;
    const event = { event: value.event ?? "message", data: value.data, id: value.id, at: Date.now() };
    events.push(event);
    onEvent?.(event);
  }
}

function stdoutOf(events: SseEvent[]): string {
  return events
    .filter((e) => e.event === "output")
    .map((e) => JSON.parse(e.data) as { stream: string; data: string })
    .filter((o) => o.stream === "stdout")
    .map((o) => o.data)
    .join("");
}

const EXPECTED_STDOUT = `${Array.from({ length: LINES }, (_, i) => `line ${i}\n`).join("")}é\n`;

describe("GET /api/v1/tasks/{id}/events", () => {
  it("streams output live, in order and once, then done with the snapshot", async () => {
    await printingWorker();
    const task = await startTask();
    const events = await readEvents(await call(`/api/v1/tasks/${task.task_id}/events`, { bearer: token }));
    const done = events.at(-1);
    expect(done?.event).toBe("done");
    const snapshot = JSON.parse(done?.data ?? "{}") as TaskBody;
    expect(snapshot.task_id).toBe(task.task_id);
    expect(snapshot.status).toBe("succeeded");
    expect(snapshot.result?.output).toBe(EXPECTED_STDOUT);
    expect(stdoutOf(events)).toBe(EXPECTED_STDOUT);
    const stderr = events.filter((e) => e.event === "output" && JSON.parse(e.data).stream === "stderr");
    expect(stderr.map((e) => JSON.parse(e.data).data)).toEqual(["warn\n"]);
    // Live: the first line arrived well before the end.
    const first = events.find((e) => e.event === "output");
    expect((done?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThan((LINES - 3) * LINE_MS);
    expect(events.filter((e) => e.event === "done")).toHaveLength(1);
  });

  it("replays everything to clients that connect late, without duplicates, and resumes after Last-Event-ID", async () => {
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    let written = () => {};
    const allWritten = new Promise<void>((r) => {
      written = r;
    });
    await printingWorker(held, written);
    const task = await startTask();
    // Connect only once the worker has written everything (the task is still running).
    await allWritten;
    const seen: SseEvent[][] = [[], [], []];
    const headers: Array<Record<string, string>> = [{}, {}, { "last-event-id": "3" }];
    const reads = headers.map((h, i) =>
      call(`/api/v1/tasks/${task.task_id}/events`, { bearer: token, headers: h }).then((res) =>
        readEvents(res, (e) => seen[i]?.push(e)),
      ),
    );
    // Every client has had the whole replay while the run still goes on; then it ends.
    await until(() => seen.every((list) => stdoutOf(list).endsWith("é\n")));
    release();
    const [early, late, resumed] = await Promise.all(reads);
    for (const events of [early, late]) {
      expect(stdoutOf(events ?? [])).toBe(EXPECTED_STDOUT);
      expect(events?.at(-1)?.event).toBe("done");
    }
    // A reconnecting EventSource names the last event it saw and gets only what follows.
    const ids = (list: SseEvent[] = []) => list.filter((e) => e.event === "output").map((e) => e.id);
    expect(ids(resumed)).toEqual(ids(early).filter((id) => Number(id) > 3));
    expect(resumed?.at(-1)?.event).toBe("done");
  });

  it("answers a finished task with just done", async () => {
    await printingWorker();
    const task = await startTask();
    await readEvents(await call(`/api/v1/tasks/${task.task_id}/events`, { bearer: token }));
    const events = await readEvents(await call(`/api/v1/tasks/${task.task_id}/events`, { bearer: token }));
    expect(events.map((e) => e.event)).toEqual(["done"]);
    expect((JSON.parse(events[0]?.data ?? "{}") as TaskBody).status).toBe("succeeded");
  });

  it("answers another account's task and a missing one with the same 404, and no token with 401", async () => {
    await printingWorker();
    const task = await startTask();
    const other = await callJson(`/api/v1/tasks/${task.task_id}/events`, { bearer: otherToken });
    const missing = await callJson("/api/v1/tasks/task_missing/events", { bearer: otherToken });
    expect(other.status).toBe(404);
    expect(other.body).toEqual(missing.body);
    expect(other.body).toMatchObject({ code: "not_found" });
    expect((await call(`/api/v1/tasks/${task.task_id}/events`)).status).toBe(401);
    await readEvents(await call(`/api/v1/tasks/${task.task_id}/events`, { bearer: token }));
  });
});
