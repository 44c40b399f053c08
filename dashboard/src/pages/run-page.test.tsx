import { fireEvent, screen, waitFor } from "@solidjs/testing-library";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TerminalSessionSummary } from "../api/types.ts";
import { fakeConsole, renderAt, sessionBody } from "../test-utils.tsx";

const EXEC_PATH = "/api/connect/onlyboxes.api.v1.ExecService/";
const RUN_PATH = `${EXEC_PATH}Run`;

/** A Connect method answered whole: a unary body (or error with its status), or a finished stream. */
type UnaryHandler = (request: Record<string, unknown>) => { body: unknown; status?: number } | { stream: unknown[] };
const encoder = new TextEncoder();
/** ErrorDetail{code: "session_busy"} in the protobuf binary form a Connect error detail carries, base64. */
const busyDetail = btoa(String.fromCharCode(0x0a, 12, ...encoder.encode("session_busy"))).replace(/=+$/, "");

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
function serve(sessions: TerminalSessionSummary[] = [], unary: Record<string, UnaryHandler> = {}) {
  fakeConsole({
    "GET /api/v1/console/session": () => ({ status: 200, body: sessionBody() }),
    "GET /api/v1/console/sessions": () => ({ status: 200, body: { items: sessions, total: sessions.length } }),
  });
  const rest = globalThis.fetch;
  const runs: RunCall[] = [];
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input), "http://console.test");
    const method = unary[url.pathname.slice(EXEC_PATH.length)];
    if (method) {
      const sent = new Uint8Array(await new Response(init?.body ?? null).arrayBuffer());
      // A streaming call's request is one envelope (5 bytes of flags and length first).
      const json = new TextDecoder().decode(sent[0] === 0 ? sent.subarray(5) : sent);
      const answer = method(JSON.parse(json) as Record<string, unknown>);
      if ("stream" in answer) {
        const frames = [...answer.stream.map((m) => envelope(0, m)), envelope(2, {})];
        const body = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
        frames.reduce((off, f) => {
          body.set(f, off);
          return off + f.length;
        }, 0);
        return new Response(body, { status: 200, headers: { "content-type": "application/connect+json" } });
      }
      return Response.json(answer.body, { status: answer.status ?? 200 });
    }
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

  it("lists the chosen session's files (waiting out a busy session), uploads one and downloads one", async () => {
    const live = new Date(Date.now() + 60_000).toISOString();
    const sessions: TerminalSessionSummary[] = [
      { session_id: "sess-a", node_id: "n1", created_at: live, last_used_at: live, lease_expires_at: live },
    ];
    const busy = {
      code: "aborted",
      message: "session is busy",
      details: [{ type: "onlyboxes.api.v1.ErrorDetail", value: busyDetail }],
    };
    let listings = 0;
    let reads = 0;
    const names = ["notes.txt"];
    const writes: Array<Record<string, unknown>> = [];
    serve(sessions, {
      ListFiles: () => {
        listings++;
        if (listings === 1) return { body: busy, status: 409 };
        return { body: { path: ".", entries: names.map((name) => ({ name, type: "FILE_TYPE_FILE", size: "5" })) } };
      },
      WriteFile: (request) => {
        writes.push(request);
        names.push(String(request.path));
        return { body: { path: request.path, size: "3" } };
      },
      ReadFile: () => {
        reads++;
        return {
          stream: [{ info: { size: "5", mimeType: "text/plain" } }, { data: btoa("he") }, { data: btoa("llo") }],
        };
      },
    });
    renderAt("/run");
    expect((await screen.findByText(/A session keeps files between runs/)).textContent).toBeTruthy();
    const where = screen.getByLabelText("Where") as HTMLSelectElement;
    await waitFor(() => expect([...where.options].map((o) => o.value)).toContain("session:sess-a"));
    fireEvent.change(where, { target: { value: "session:sess-a" } });
    await screen.findByRole("button", { name: "Download notes.txt" });
    expect(listings).toBe(2);
    expect(screen.queryByRole("alert")).toBeNull();

    const file = new File([encoder.encode("abc")], "up.txt", { type: "text/plain" });
    // jsdom's File has no arrayBuffer(); browsers' do.
    Object.defineProperty(file, "arrayBuffer", { value: async () => encoder.encode("abc").buffer });
    fireEvent.change(screen.getByLabelText("Upload a file"), { target: { files: [file] } });
    await screen.findByRole("button", { name: "Download up.txt" });
    expect(writes).toEqual([{ sessionId: "sess-a", path: "up.txt", data: btoa("abc") }]);

    const download = screen.getByRole("button", { name: "Download notes.txt" });
    await waitFor(() => expect(download).toHaveProperty("disabled", false));
    const save = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => {});
    fireEvent.click(download);
    await waitFor(() => expect(reads).toBe(1));
    await waitFor(() => expect(URL.createObjectURL).toHaveBeenCalledTimes(1));
    const blob = vi.mocked(URL.createObjectURL).mock.calls[0]?.[0] as Blob;
    expect(blob.type).toBe("text/plain");
    // jsdom's Blob has no text(); its FileReader reads it.
    const text = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.readAsText(blob);
    });
    expect(text).toBe("hello");
    expect(save.mock.contexts.map((a) => (a as HTMLAnchorElement).download)).toEqual(["notes.txt"]);
    save.mockRestore();
  });
});
