/**
 * `/api/v1/sessions` through the real app, Session/AccountLimits/WorkerNode objects and the
 * real worker wire, with a fake worker that keeps sessions in memory: creation, listing,
 * ending (the worker is told), another account's ids, and the file routes' validation.
 * File bytes over the wire are covered end to end in e2e/files.test.ts.
 */
import type { CommandDispatch, ErrorBody } from "@onlyboxes/proto";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { call, callJson, newAccountWithToken } from "./helpers.ts";
import { connectTestWorker, offering, type TestReply, type TestWorker, terminalReply } from "./worker-harness.ts";

interface SessionBody {
  session_id: string;
  lease_expires_unix_ms: number;
  created_at: string;
  busy?: boolean;
}

const workers: TestWorker[] = [];
/** Worker-side session keys the fake worker holds. */
const live = new Set<string>();
/** end_session requests the fake worker received. */
const ended: string[] = [];

async function connectWorker(): Promise<TestWorker> {
  const handler = (d: CommandDispatch, raw: unknown): TestReply => {
    const p = raw as { session_id: string; op?: string; path?: string };
    if (d.capability === "terminalExec") {
      live.add(p.session_id);
      return terminalReply(p.session_id);
    }
    if (p.op === "end_session") {
      ended.push(p.session_id);
      return { payload: { ended: live.delete(p.session_id) } };
    }
    if (!live.has(p.session_id)) return { error: { code: "session_not_found", message: "session not found" } };
    if (p.op === "list") return { payload: { path: p.path, entries: [{ name: "a.txt", type: "file", size: 1, mtime: 1 }] } };
    if (p.op === "delete") return { error: { code: "file_not_found", message: "file not found" } };
    return { error: { code: "invalid_argument", message: "unexpected" } };
  };
  const w = await connectTestWorker({
    capabilities: offering("terminalExec", "sessionFiles"),
    handler,
  });
  await w.acked;
  workers.push(w);
  return w;
}

let token: string;
let otherToken: string;

beforeAll(async () => {
  token = (await newAccountWithToken()).token;
  otherToken = (await newAccountWithToken()).token;
});

afterEach(() => {
  for (const w of workers.splice(0)) w.close();
});

describe("/api/v1/sessions", () => {
  it("needs a bearer token", async () => {
    expect((await call("/api/v1/sessions")).status).toBe(401);
    expect((await call("/api/v1/sessions", { method: "POST", body: {} })).status).toBe(401);
  });

  it("creates a session on a worker, shows and lists it, and ends it on the worker", async () => {
    await connectWorker();
    const created = await callJson<SessionBody>("/api/v1/sessions", {
      method: "POST",
      bearer: token,
      body: { lease_ttl_sec: 600 },
    });
    expect(created.status).toBe(201);
    const id = created.body.session_id;
    expect(id).toMatch(/^sess_/);
    expect(Date.parse(created.body.created_at)).toBeGreaterThan(Date.now() - 60_000);

    const shown = await callJson<SessionBody>(`/api/v1/sessions/${id}`, { bearer: token });
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ session_id: id, busy: false });
    const list = await callJson<{ items: SessionBody[] }>("/api/v1/sessions", { bearer: token });
    expect(list.body.items.map((s) => s.session_id)).toContain(id);

    const listing = await callJson(`/api/v1/sessions/${id}/files/list`, { bearer: token });
    expect(listing.status).toBe(200);
    expect(listing.body).toEqual({ path: ".", entries: [{ name: "a.txt", type: "file", size: 1, mtime: 1 }] });
    const del = await callJson<ErrorBody>(`/api/v1/sessions/${id}/files?path=x`, { method: "DELETE", bearer: token });
    expect(del.status).toBe(404);
    expect(del.body.code).toBe("file_not_found");

    const before = ended.length;
    const res = await call(`/api/v1/sessions/${id}`, { method: "DELETE", bearer: token });
    expect(res.status).toBe(204);
    expect(ended.length).toBe(before + 1);
    expect((await call(`/api/v1/sessions/${id}`, { bearer: token })).status).toBe(404);
    expect((await call(`/api/v1/sessions/${id}`, { method: "DELETE", bearer: token })).status).toBe(404);
    const after = await callJson<{ items: SessionBody[] }>("/api/v1/sessions", { bearer: token });
    expect(after.body.items.map((s) => s.session_id)).not.toContain(id);
  });

  it("answers another account's session exactly like a missing one, on every route", async () => {
    await connectWorker();
    const created = await callJson<SessionBody>("/api/v1/sessions", { method: "POST", bearer: token, body: {} });
    const id = created.body.session_id;
    const routes: Array<[string, string]> = [
      ["GET", `/api/v1/sessions/${id}`],
      ["DELETE", `/api/v1/sessions/${id}`],
      ["GET", `/api/v1/sessions/${id}/files?path=a`],
      ["DELETE", `/api/v1/sessions/${id}/files?path=a`],
      ["GET", `/api/v1/sessions/${id}/files/list`],
    ];
    for (const [method, path] of routes) {
      const foreign = await callJson(path, { method, bearer: otherToken });
      const missing = await callJson(path.replace(id, "sess_missing"), { method, bearer: otherToken });
      expect(foreign.status, `${method} ${path}`).toBe(404);
      expect(foreign.body).toEqual(missing.body);
      expect(foreign.body).toEqual({ error: "session not found", code: "session_not_found" });
    }
    const theirs = await callJson<{ items: SessionBody[] }>("/api/v1/sessions", { bearer: otherToken });
    expect(theirs.body.items.map((s) => s.session_id)).not.toContain(id);
    // Still there for its owner.
    expect((await call(`/api/v1/sessions/${id}`, { bearer: token })).status).toBe(200);
  });

  it.each([
    [{ lease_ttl_sec: 5 }, "lease_ttl_sec: must be an integer between 60 and 1800"],
    [{ lease_ttl_sec: "60" }, "lease_ttl_sec: must be an integer between 60 and 1800"],
    [{ extra: 1 }, "unknown field: extra"],
  ])("refuses a bad create body %j with 400", async (body, message) => {
    const res = await callJson<ErrorBody>("/api/v1/sessions", { method: "POST", bearer: token, body });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: message, code: "invalid_argument" });
  });

  it.each([
    ["no path", ""],
    ["an empty path", "?path="],
    ["a NUL", "?path=a%00b"],
    ["a path too long", `?path=${"x".repeat(4097)}`],
  ])("refuses a file request with %s with 400", async (_name, query) => {
    const res = await callJson<ErrorBody>(`/api/v1/sessions/sess_x/files${query}`, { bearer: token });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_argument");
  });

  it("refuses an upload announced above CONSOLE_FILE_MAX_BYTES with 413 before reading it", async () => {
    const res = await callJson<ErrorBody>("/api/v1/sessions/sess_x/files?path=a.bin", {
      method: "PUT",
      bearer: token,
      body: new Uint8Array(2048),
      headers: { "content-type": "application/octet-stream", "content-length": "2048" },
      env: { CONSOLE_FILE_MAX_BYTES: "1024" },
    });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe("file_too_large");
  });
});
