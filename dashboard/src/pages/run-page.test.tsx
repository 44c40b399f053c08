import { fireEvent, screen, waitFor } from "@solidjs/testing-library";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TerminalSessionSummary } from "../api/types.ts";
import { fakeConsole, renderAt, sessionBody } from "../test-utils.tsx";

const RUN_PATH = "/api/connect/onlyboxes.api.v1.ExecService/Run";
const encoder = new TextEncoder();

/** One Connect streaming envelope (flags, big-endian length, JSON message). */
function envelope(flags: number, message: unknown): Uint8Array {
  const body = encoder.encode(JSON.stringify(message));
  const out = new Uint8Array(5 + body.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, 5);
  return out;
}

interface RunCall {
  request: unknown;
  headers: Headers;
  signal: AbortSignal | undefined;
  send: (message: unknown) => void;
  end: (error?: { code: string; message: string; details?: unknown[] }) => void;
}

/**
 * The console's REST routes (session, sessions list) plus its Connect Run endpoint at the
 * fetch seam: each Run call hands the test a way to send messages and end the stream.
 */
function serve(sessions: TerminalSessionSummary[] = []) {
  fakeConsole({
    "GET /api/v1/console/session": () => ({ status: 200, body: sessionBody() }),
    "GET /api/v1/console/sessions": () => ({ status: 200, body: { items: sessions, total: sessions.length } }),
  });
  const rest = globalThis.fetch;
  const runs: RunCall[] = [];
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input), "http://console.test");
    if (url.pathname !== RUN_PATH) return rest(input, init);
    const raw = new Uint8Array(await new Response(init?.body ?? null).arrayBuffer());
    const request = JSON.parse(new TextDecoder().decode(raw.subarray(5))) as unknown;
    let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
    });
    init?.signal?.addEventListener("abort", () => controller?.error(init.signal?.reason));
    runs.push({
      request,
      headers: new Headers(init?.headers),
      signal: init?.signal ?? undefined,
      send: (message) => controller?.enqueue(envelope(0, message)),
      end: (error) => {
        controller?.enqueue(envelope(2, error ? { error } : {}));
        controller?.close();
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": "application/connect+json" } });
  });
  return runs;
}

async function startRun(runs: RunCall[], count = 1): Promise<RunCall> {
  fireEvent.click(await screen.findByRole("button", { name: "Run" }));
  await waitFor(() => expect(runs.length).toBe(count));
  const run = runs[count - 1];
  if (!run) throw new Error("no run");
  return run;
}

const output = () => screen.getByTestId("run-output");

describe("run page", () => {
  beforeEach(() => {
    let n = 0;
    URL.createObjectURL = vi.fn(() => `blob:figure-${++n}`);
    URL.revokeObjectURL = vi.fn();
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("runs Python in a fresh sandbox and shows output as it arrives, stderr apart, then the exit code", async () => {
    const runs = serve();
    renderAt("/run");
    fireEvent.input(await screen.findByLabelText("Python code"), { target: { value: "print('hi')" } });
    const run = await startRun(runs);
    expect(run.request).toEqual({ python: { code: "print('hi')" } });
    expect(run.headers.get("connect-protocol-version")).toBe("1");
    expect(screen.getByRole("button", { name: "Running…" })).toHaveProperty("disabled", true);

    run.send({ output: { stream: "OUTPUT_STREAM_STDOUT", data: "tick 0\n" } });
    await waitFor(() => expect(output().textContent).toBe("tick 0\n"));
    run.send({ output: { stream: "OUTPUT_STREAM_STDERR", data: "warning\n" } });
    run.send({ output: { stream: "OUTPUT_STREAM_STDOUT", data: "tick 1\n" } });
    await waitFor(() => expect(output().textContent).toBe("tick 0\nwarning\ntick 1\n"));
    expect(output().querySelector(".stderr")?.textContent).toBe("warning\n");

    run.send({ image: { mimeType: "image/png", data: btoa("png-bytes"), name: "chart" } });
    run.send({ result: { exitCode: 2, stdout: "tick 0\ntick 1\n" } });
    run.end();
    expect(await screen.findByText(/Exit code 2/)).toBeTruthy();
    expect(screen.getByRole("img", { name: "chart" }).getAttribute("src")).toBe(`data:image/png;base64,${btoa("png-bytes")}`);
    await waitFor(() => expect(screen.getByRole("button", { name: "Run" })).toHaveProperty("disabled", false));
  });

  it("Stop aborts the stream and says so", async () => {
    const runs = serve();
    renderAt("/run");
    const run = await startRun(runs);
    run.send({ output: { stream: "OUTPUT_STREAM_STDOUT", data: "working\n" } });
    await waitFor(() => expect(output().textContent).toBe("working\n"));
    fireEvent.click(screen.getByRole("button", { name: "Stop" }));
    expect(await screen.findByText("Stopped")).toBeTruthy();
    expect(run.signal?.aborted).toBe(true);
    expect(screen.queryByRole("alert")).toBeNull();
    expect(output().textContent).toBe("working\n");
  });

  it("shows the console's error message when the run fails", async () => {
    const runs = serve();
    renderAt("/run");
    const run = await startRun(runs);
    run.end({ code: "unavailable", message: "no online worker offers capability pythonExec" });
    expect((await screen.findByRole("alert")).textContent).toContain("no online worker offers capability pythonExec");
  });

  it("runs shell in a new session, then offers that session for the next run", async () => {
    const live = new Date(Date.now() + 60_000).toISOString();
    const sessions: TerminalSessionSummary[] = [
      { session_id: "old-one", node_id: "n1", created_at: live, last_used_at: live, lease_expires_at: live },
    ];
    const runs = serve(sessions);
    renderAt("/run");
    fireEvent.click(await screen.findByLabelText("Shell"));
    const where = screen.getByLabelText("Where") as HTMLSelectElement;
    expect(where.value).toBe("new");
    await waitFor(() => expect([...where.options].map((o) => o.textContent)).toEqual(["New session", "Session old-one"]));
    fireEvent.input(screen.getByLabelText("Shell command"), { target: { value: "ls -la" } });
    const run = await startRun(runs);
    expect(run.request).toEqual({ shell: { command: "ls -la" } });
    sessions.push({ session_id: "sess-new", node_id: "n1", created_at: live, last_used_at: live, lease_expires_at: live });
    run.send({ result: { exitCode: 0, sessionId: "sess-new", created: true } });
    run.end();
    await waitFor(() => expect(where.value).toBe("session:sess-new"));
    const next = await startRun(runs, 2);
    expect(next.request).toEqual({ shell: { command: "ls -la", sessionId: "sess-new" } });
    next.end();
  });
});
