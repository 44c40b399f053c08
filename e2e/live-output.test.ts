/**
 * Live output from real sandboxes: a task's Server-Sent Events (GET /api/v1/tasks/{id}/events)
 * and the Connect ExecService stream, against the self-hosted console, its Docker worker and
 * real Python containers; plain prints (no flush) arrive live in a fresh run and in a
 * session's interpreter; a session keeps Python state across Connect runs, and no other
 * session or account sees it. Also measures the delay from a print in the sandbox to its
 * byte at an SSE client (the container shares the host's clock), and a warm session's
 * second run over Connect.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ExecService, OutputStream } from "@onlyboxes/proto/exec";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createAccountToken,
  eventually,
  hostProcessesWith,
  marker,
  post,
  type StartedConsole,
  startConsole,
  stopAndListLeftovers,
  type TaskBody,
} from "./harness.ts";

let c: StartedConsole;

beforeAll(async () => {
  c = await startConsole({ capabilities: ["pythonExec", "terminalExec"], env: { CONSOLE_ENABLE_REGISTRATION: "true" } });
}, 180_000);

afterAll(async () => {
  expect(await stopAndListLeftovers(c)).toEqual([]);
}, 90_000);

const LINES = 30;
/** One line every 100 ms for 3 s, each stamped with the sandbox's clock. */
const COUNTER = [
  "import time",
  `for i in range(${LINES}):`,
  '    print(f"{i} {time.time():.6f}", flush=True)',
  "    time.sleep(0.1)",
].join("\n");
const EXPECTED = Array.from({ length: LINES }, (_, i) => i);

interface Arrival {
  event: string;
  data: string;
  at: number;
}

async function startTask(code: string): Promise<string> {
  const res = await post<TaskBody>(c.url, c.token, "/api/v1/tasks", {
    capability: "pythonExec",
    input: { code },
    mode: "async",
  });
  expect(res.status).toBe(202);
  return res.body.task_id;
}

/** Reads a task's event stream to its end, stamping every event with its arrival time; `onEvent` sees each as it comes. */
async function readEvents(taskId: string, onEvent?: (e: Arrival) => void): Promise<Arrival[]> {
  const res = await fetch(`${c.url}/api/v1/tasks/${taskId}/events`, { headers: { authorization: `Bearer ${c.token}` } });
  expect(res.status).toBe(200);
  if (!res.body) throw new Error("no body");
  const reader = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  const got: Arrival[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return got;
    const arrival = { event: value.event ?? "message", data: value.data, at: Date.now() };
    got.push(arrival);
    onEvent?.(arrival);
  }
}

/** The counter's lines in arrival order, with when each arrived and when the sandbox printed it. */
function counterLines(chunks: Array<{ data: string; at: number }>): Array<{ n: number; printed: number; at: number }> {
  const lines: Array<{ n: number; printed: number; at: number }> = [];
  let pending = "";
  for (const chunk of chunks) {
    pending += chunk.data;
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    for (const line of parts) {
      const [n, stamp] = line.split(" ");
      lines.push({ n: Number(n), printed: Number(stamp) * 1000, at: chunk.at });
    }
  }
  expect(pending).toBe("");
  return lines;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function outputs(events: Arrival[]): Array<{ data: string; at: number }> {
  return events
    .filter((e) => e.event === "output")
    .map((e) => ({ ...(JSON.parse(e.data) as { stream: string; data: string }), at: e.at }))
    .filter((o) => o.stream === "stdout");
}

describe("task events over SSE", () => {
  it("shows a 3 s counter live, every line once and in order, and replays it all to a late client", async () => {
    const taskId = await startTask(COUNTER);
    // A second client joins halfway through the run, once the first has seen line 15.
    let halfway = () => {};
    const reachedHalfway = new Promise<void>((r) => {
      halfway = r;
    });
    const live = readEvents(taskId, (e) => {
      if (e.event === "output" && /(^|\n)15 /.test((JSON.parse(e.data) as { data: string }).data)) halfway();
    });
    await reachedHalfway;
    const late = readEvents(taskId);
    const [onTime, lateEvents] = await Promise.all([live, late]);

    for (const events of [onTime, lateEvents]) {
      const lines = counterLines(outputs(events));
      expect(lines.map((l) => l.n)).toEqual(EXPECTED);
      const done = events.at(-1);
      expect(done?.event).toBe("done");
      const snapshot = JSON.parse(done?.data ?? "{}") as TaskBody;
      expect(snapshot.status).toBe("succeeded");
      expect(events.filter((e) => e.event === "done")).toHaveLength(1);
    }
    const lines = counterLines(outputs(onTime));
    const end = onTime.at(-1)?.at ?? 0;
    // Live: the first line arrived more than two seconds before the end of a three-second run.
    expect(end - (lines[0]?.at ?? end)).toBeGreaterThan(2_000);
    const delays = lines.map((l) => l.at - l.printed);
    console.log(
      `[measure] print → SSE client delay over ${delays.length} lines: p50 ${percentile(delays, 50).toFixed(1)} ms, ` +
        `p95 ${percentile(delays, 95).toFixed(1)} ms, max ${Math.max(...delays).toFixed(1)} ms`,
    );
    expect(percentile(delays, 50)).toBeLessThan(500);

    // Once finished: just done.
    const after = await readEvents(taskId);
    expect(after.map((e) => e.event)).toEqual(["done"]);
  });
});

describe("ExecService over Connect (HTTP/1.1)", () => {
  const client = (token = c.token) =>
    createClient(
      ExecService,
      createConnectTransport({
        baseUrl: `${c.url}/api/connect`,
        httpVersion: "1.1",
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${token}`);
            return next(req);
          },
        ],
      }),
    );

  /** Runs Python to its end: stdout chunks with their arrival times, and when the result came. */
  async function runPython(
    program: { code: string; sessionId?: string; createIfMissing?: boolean },
    token = c.token,
  ): Promise<{ chunks: Array<{ data: string; at: number }>; stdout: string; exitCode: number; resultAt: number }> {
    const chunks: Array<{ data: string; at: number }> = [];
    let resultAt = 0;
    let exitCode = -1;
    let stdout = "";
    for await (const msg of client(token).run({ program: { case: "python", value: program } })) {
      if (msg.event.case === "output" && msg.event.value.stream === OutputStream.STDOUT) {
        chunks.push({ data: msg.event.value.data, at: Date.now() });
      }
      if (msg.event.case === "result") {
        resultAt = Date.now();
        exitCode = msg.event.value.exitCode;
        stdout = msg.event.value.stdout;
      }
    }
    return { chunks, stdout, exitCode, resultAt };
  }

  it("streams the counter live, in order and once, then the result", async () => {
    const { chunks, exitCode, resultAt } = await runPython({ code: COUNTER });
    const lines = counterLines(chunks);
    expect(lines.map((l) => l.n)).toEqual(EXPECTED);
    expect(exitCode).toBe(0);
    expect(resultAt - (lines[0]?.at ?? resultAt)).toBeGreaterThan(2_000);
    const delays = lines.map((l) => l.at - l.printed);
    console.log(`[measure] print → Connect client delay: p50 ${percentile(delays, 50).toFixed(1)} ms`);
  });

  it.each([
    ["a fresh run", {}],
    ["a session's interpreter", { sessionId: marker("live-unflushed"), createIfMissing: true }],
  ])("shows plain prints (no flush) live in %s", async (_label, where) => {
    // Python buffers a pipe's output unless told otherwise: these prints have no flush=True.
    const code = COUNTER.replace(", flush=True", "");
    expect(code).not.toContain("flush");
    const { chunks, exitCode, resultAt } = await runPython({ code, ...where });
    expect(exitCode).toBe(0);
    const lines = counterLines(chunks);
    expect(lines.map((l) => l.n)).toEqual(EXPECTED);
    expect(resultAt - (lines[0]?.at ?? resultAt)).toBeGreaterThan(2_000);
    const delays = lines.map((l) => l.at - l.printed);
    expect(percentile(delays, 50)).toBeLessThan(500);
  });

  it("keeps Python state across runs in one session, and not in another session or account", async () => {
    const sessionId = marker("live-state");
    const first = await runPython({ code: "import math\nx = 41\nprint('set')", sessionId, createIfMissing: true });
    expect([first.exitCode, first.stdout]).toEqual([0, "set\n"]);
    const second = await runPython({ code: "print(x + 1, math.pi > 3)", sessionId });
    expect([second.exitCode, second.stdout]).toEqual([0, "42 True\n"]);

    const probe = "print('x' in globals(), 'math' in globals())";
    const other = await runPython({ code: probe, sessionId: marker("live-state-other"), createIfMissing: true });
    expect(other.stdout).toBe("False False\n");
    const fresh = await runPython({ code: probe });
    expect(fresh.stdout).toBe("False False\n");

    // Another account naming the same session id: absent for it, and its own if it asks for one.
    const stranger = await createAccountToken(c, marker("live-stranger"));
    let refused: unknown;
    try {
      await runPython({ code: probe, sessionId }, stranger);
    } catch (err) {
      refused = err;
    }
    expect(ConnectError.from(refused).code).toBe(Code.NotFound);
    const theirs = await runPython({ code: probe, sessionId, createIfMissing: true }, stranger);
    expect(theirs.stdout).toBe("False False\n");
    // The owner's state is untouched by all of that.
    expect((await runPython({ code: "print(x)", sessionId })).stdout).toBe("41\n");
  });

  it("measures: a warm session's second run over Connect (p50 of 20)", async () => {
    const sessionId = marker("live-warm");
    expect((await runPython({ code: "x = 0", sessionId, createIfMissing: true })).exitCode).toBe(0);
    const took: number[] = [];
    for (let i = 1; i <= 20; i++) {
      const start = performance.now();
      const r = await runPython({ code: "x += 1\nprint(x)", sessionId });
      took.push(performance.now() - start);
      expect(r.stdout).toBe(`${i}\n`);
    }
    console.log(
      `[measure] warm Python session, Connect Run to result: p50 ${percentile(took, 50).toFixed(1)} ms, p95 ${percentile(took, 95).toFixed(1)} ms`,
    );
  });

  it("runs a shell command in a new session and reports its exit code", async () => {
    let result: { exitCode: number; stdout: string; sessionId: string; created: boolean } | undefined;
    for await (const msg of client().run({ program: { case: "shell", value: { command: "echo hi; exit 7" } } })) {
      if (msg.event.case === "result") result = msg.event.value;
    }
    expect(result).toMatchObject({ exitCode: 7, stdout: "hi\n", created: true });
    expect(result?.sessionId).not.toBe("");
  });

  it("Stop: closing the stream kills the program in its sandbox", async () => {
    const tag = marker("live-stop");
    const code = [
      "import os, sys",
      `os.execv(sys.executable, [sys.executable, "-c", "import time\\nwhile True:\\n    print('tick', flush=True)\\n    time.sleep(0.1)", ${JSON.stringify(tag)}])`,
    ].join("\n");
    const controller = new AbortController();
    let ticks = 0;
    let failure: unknown;
    try {
      for await (const msg of client().run(
        { program: { case: "python", value: { code } }, timeoutMs: 120_000 },
        { signal: controller.signal },
      )) {
        if (msg.event.case === "output") ticks += msg.event.value.data.split("tick").length - 1;
        if (ticks >= 3) {
          expect(await hostProcessesWith(tag)).not.toEqual([]);
          controller.abort();
        }
      }
    } catch (err) {
      failure = err;
    }
    expect(ConnectError.from(failure).code).toBe(Code.Canceled);
    expect(await eventually(async () => (await hostProcessesWith(tag)).length === 0, 10_000)).toBe(true);
  });

  it("Stop during a silent stretch: KeepAlives flow while the program is quiet, and closing the stream still kills it", async () => {
    const tag = marker("live-silent-stop");
    // Says it started, then sleeps without a word, tagged in its argv for the host's ps.
    const code = [
      "import os, sys",
      "print('started', flush=True)",
      `os.execv(sys.executable, [sys.executable, "-c", "import time\\nwhile True:\\n    time.sleep(1)", ${JSON.stringify(tag)}])`,
    ].join("\n");
    const controller = new AbortController();
    const seen: string[] = [];
    let printed = "";
    let failure: unknown;
    try {
      for await (const msg of client().run(
        { program: { case: "python", value: { code } }, timeoutMs: 120_000 },
        { signal: controller.signal },
      )) {
        seen.push(msg.event.case ?? "none");
        if (msg.event.case === "output") printed += msg.event.value.data;
        if (msg.event.case === "keepalive" && printed === "started\n") {
          expect(await hostProcessesWith(tag)).not.toEqual([]);
          controller.abort();
        }
      }
    } catch (err) {
      failure = err;
    }
    expect(ConnectError.from(failure).code).toBe(Code.Canceled);
    // The one line (the pipe may hand it over in more than one chunk), then only KeepAlives.
    expect(printed).toBe("started\n");
    const afterLine = seen.slice(seen.lastIndexOf("output") + 1);
    expect(afterLine.length).toBeGreaterThan(0);
    expect(afterLine.every((e) => e === "keepalive")).toBe(true);
    expect(seen.every((e) => e === "output" || e === "keepalive")).toBe(true);
    expect(await eventually(async () => (await hostProcessesWith(tag)).length === 0, 10_000)).toBe(true);
  });
});
