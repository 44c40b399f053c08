/**
 * Terminal sessions through the real app, Session/WorkerNode/NodeRegistry objects and the
 * real worker wire, with fake workers that keep sessions in memory the way worker-docker
 * keeps containers.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { CommandDispatch, ErrorBody, TerminalExecPayload, TerminalExecResult } from "@onlyboxes/proto";
import { afterEach, describe, expect, it } from "vitest";
import { readTerminalResource } from "../src/capabilities/terminal.ts";
import { LEASE_WRITE_AHEAD_MS, type SessionState } from "../src/objects/session.ts";
import { call, callJson, newAccountWithToken, waitFor } from "./helpers.ts";
import { connectTestWorker, offering, type TestReply, type TestWorker, terminalReply } from "./worker-harness.ts";

/** A terminal answer: the result, or an error body. */
type TerminalBody = TerminalExecResult & Partial<ErrorBody>;

type ExecPayload = TerminalExecPayload;

/**
 * A worker that plays terminalExec/terminalResource: one "container" (a set of files)
 * per worker-side session key. Commands: `echo X`, `write F`, `cat F`, `wait` (until
 * `release()`), `hang` (never answers), `stream` (output chunks before the result).
 */
interface FakeTerminalWorker {
  w: TestWorker;
  sessions: Map<string, { files: Set<string>; lease: number }>;
  execs: ExecPayload[];
  releaseWaiting(): void;
}

const workers: TestWorker[] = [];

async function connectTerminalWorker(): Promise<FakeTerminalWorker> {
  const sessions = new Map<string, { files: Set<string>; lease: number }>();
  const execs: ExecPayload[] = [];
  let waiting: Array<() => void> = [];
  const handler = async (d: CommandDispatch, raw: unknown, self: TestWorker): Promise<TestReply> => {
    if (d.capability === "terminalResource") {
      const p = raw as { session_id: string; file_path: string; action: string };
      const s = sessions.get(p.session_id);
      if (!s) return { error: { code: "session_not_found", message: "session not found" } };
      if (p.file_path.endsWith("/")) return { error: { code: "path_is_directory", message: "is a directory" } };
      if (!s.files.has(p.file_path)) return { error: { code: "file_not_found", message: "no such file" } };
      return {
        payload: {
          session_id: p.session_id,
          file_path: p.file_path,
          mime_type: "image/png",
          size_bytes: 3,
          ...(p.action === "read" ? { blob: btoa("png") } : {}),
        },
      };
    }
    const p = raw as ExecPayload;
    execs.push(p);
    let s = sessions.get(p.session_id);
    let created = false;
    if (!s) {
      if (!p.create_if_missing) return { error: { code: "session_not_found", message: "session not found" } };
      s = { files: new Set(), lease: 0 };
      sessions.set(p.session_id, s);
      created = true;
    }
    const [verb, arg = ""] = p.command.split(" ");
    let stdout = "";
    let exit = 0;
    if (verb === "hang") return "no-reply";
    if (verb === "stream") {
      self.output(d.commandId, "stdout", "part-1 ");
      self.output(d.commandId, "stderr", "warn");
      self.output(d.commandId, "stdout", "part-2");
      stdout = "part-1 part-2";
    }
    if (verb === "wait") await new Promise<void>((r) => waiting.push(r));
    if (verb === "echo") stdout = `${arg}\n`;
    if (verb === "write") s.files.add(arg);
    if (verb === "cat") {
      if (s.files.has(arg)) stdout = `content of ${arg}\n`;
      else exit = 1;
    }
    s.lease = Math.max(s.lease, Date.now() + (p.lease_ttl_sec ?? 60) * 1000);
    return terminalReply(p.session_id, { created, stdout, exit_code: exit, lease_expires_unix_ms: s.lease });
  };
  const w = await connectTestWorker({
    capabilities: offering("terminalExec", "terminalResource"),
    handler,
  });
  await w.acked;
  workers.push(w);
  return {
    w,
    sessions,
    execs,
    releaseWaiting() {
      const list = waiting;
      waiting = [];
      for (const r of list) r();
    },
  };
}

async function workerStatus(nodeId: string): Promise<string | undefined> {
  const row = await env.DB.prepare("SELECT status FROM workers WHERE node_id = ?").bind(nodeId).first<{ status: string }>();
  return row?.status;
}

/** Disconnects a worker and waits until the console has taken it offline. */
async function disconnect(w: TestWorker): Promise<void> {
  w.close();
  await w.closed;
  await waitFor(async () => (await workerStatus(w.nodeId)) === "offline");
}

afterEach(async () => {
  // Tests of a file share the NodeRegistry: leave no worker behind for the next one.
  const open = workers.splice(0);
  for (const w of open) {
    if ((await workerStatus(w.nodeId)) === "online") await disconnect(w);
  }
});

function term(token: string, body: unknown) {
  return callJson<TerminalBody>("/api/v1/commands/terminal", { method: "POST", bearer: token, body });
}

async function sessionRow(accountId: string, id: string) {
  return env.DB.prepare("SELECT node_id, lease_expires_at, last_used_at FROM terminal_sessions WHERE account_id = ? AND id = ?")
    .bind(accountId, id)
    .first<{ node_id: string; lease_expires_at: number; last_used_at: number }>();
}

/** The lease a Session object keeps in storage (0 when it has no state). */
function storedLease(stub: ReturnType<typeof sessionStub>): Promise<number> {
  return runInDurableObject(stub, (_obj, state) => state.storage.kv.get<SessionState>("state")?.leaseExpiresUnixMs ?? 0);
}

function sessionStub(accountId: string, sessionId: string) {
  return env.SESSION.get(env.SESSION.idFromName(`${accountId}:${sessionId}`));
}

describe("POST /api/v1/commands/terminal", () => {
  it("creates a session when no session_id is given and pins it to the node it landed on", async () => {
    const user = await newAccountWithToken();
    const fake = await connectTerminalWorker();
    const res = await term(user.token, { command: "echo hi" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      created: true,
      stdout: "hi\n",
      stderr: "",
      exit_code: 0,
      stdout_truncated: false,
      stderr_truncated: false,
    });
    expect(res.body.session_id).toMatch(/^sess_[0-9a-f]+$/);
    expect(res.body.lease_expires_unix_ms).toBeGreaterThan(Date.now() + 55_000);

    // The worker sees an opaque key, never the client's id.
    const sent = fake.execs[0];
    expect(sent?.session_id).not.toBe(res.body.session_id);
    expect(sent).toMatchObject({ command: "echo hi", create_if_missing: true, timeout_ms: 60_000, lease_ttl_sec: 60 });

    const row = await sessionRow(user.accountId, res.body.session_id);
    expect(row?.node_id).toBe(fake.w.nodeId);
    expect(row?.lease_expires_at).toBe(res.body.lease_expires_unix_ms);
  });

  it("REST treats a blank session_id as absent and trims one with spaces around it", async () => {
    const user = await newAccountWithToken();
    await connectTerminalWorker();
    const blank = await term(user.token, { command: "write kept", session_id: "   " });
    expect(blank.status).toBe(200);
    expect(blank.body).toMatchObject({ created: true, session_id: expect.stringMatching(/^sess_/) });
    const padded = await term(user.token, { command: "cat kept", session_id: ` ${blank.body.session_id} ` });
    expect(padded.status).toBe(200);
    expect(padded.body).toMatchObject({ created: false, session_id: blank.body.session_id, stdout: "content of kept\n" });
  });

  it("reuses a session on its pinned node, keeping its files", async () => {
    const user = await newAccountWithToken();
    const a = await connectTerminalWorker();
    const b = await connectTerminalWorker();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await term(user.token, { command: "write notes.txt" });
      expect(res.status).toBe(200);
      ids.push(res.body.session_id);
    }
    for (const id of ids) {
      const res = await term(user.token, { session_id: id, command: "cat notes.txt" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ session_id: id, created: false, stdout: "content of notes.txt\n", exit_code: 0 });
    }
    // Every key's commands ran on one node only.
    const nodesOf = new Map<string, Set<string>>();
    for (const [node, f] of [
      ["a", a],
      ["b", b],
    ] as const) {
      for (const e of f.execs) {
        const set = nodesOf.get(e.session_id) ?? new Set<string>();
        set.add(node);
        nodesOf.set(e.session_id, set);
      }
    }
    expect(nodesOf.size).toBe(4);
    for (const set of nodesOf.values()) expect(set.size).toBe(1);
  });

  it("answers session_not_found for an unknown id without touching a worker, unless create_if_missing", async () => {
    const user = await newAccountWithToken();
    const fake = await connectTerminalWorker();
    const missing = await term(user.token, { session_id: "my-session", command: "echo x" });
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: "session not found", code: "session_not_found" });
    expect(fake.w.dispatches).toHaveLength(0);

    const made = await term(user.token, { session_id: "my-session", create_if_missing: true, command: "echo x" });
    expect(made.status).toBe(200);
    expect(made.body).toMatchObject({ session_id: "my-session", created: true });
    const again = await term(user.token, { session_id: "my-session", create_if_missing: true, command: "echo y" });
    expect(again.body).toMatchObject({ session_id: "my-session", created: false, stdout: "y\n" });
  });

  it("keeps accounts apart: the same id in two accounts is two sessions, and neither sees the other's", async () => {
    const alice = await newAccountWithToken();
    const bob = await newAccountWithToken();
    const fake = await connectTerminalWorker();
    const mine = await term(alice.token, { session_id: "foo", create_if_missing: true, command: "write secret" });
    expect(mine.status).toBe(200);

    const dispatched = fake.w.dispatches.length;
    const peek = await term(bob.token, { session_id: "foo", command: "cat secret" });
    expect(peek.status).toBe(404);
    expect(peek.body).toEqual({ error: "session not found", code: "session_not_found" });
    expect(fake.w.dispatches).toHaveLength(dispatched);

    const his = await term(bob.token, { session_id: "foo", create_if_missing: true, command: "cat secret" });
    expect(his.status).toBe(200);
    expect(his.body).toMatchObject({ created: true, exit_code: 1, stdout: "" });
    expect(fake.sessions.size).toBe(2);

    const still = await term(alice.token, { session_id: "foo", command: "cat secret" });
    expect(still.body).toMatchObject({ exit_code: 0, stdout: "content of secret\n" });
  });

  it("answers session_busy at once while a command runs, then serves the next one", async () => {
    const user = await newAccountWithToken();
    const fake = await connectTerminalWorker();
    const first = await term(user.token, { command: "echo ready" });
    const id = first.body.session_id;

    const slow = term(user.token, { session_id: id, command: "wait" });
    await waitFor(async () => fake.execs.length === 2);
    const busy = await term(user.token, { session_id: id, command: "echo nope" });
    expect(busy.status).toBe(409);
    expect(busy.body).toEqual({ error: "session is busy with another command", code: "session_busy" });
    expect(fake.execs).toHaveLength(2);

    fake.releaseWaiting();
    expect((await slow).status).toBe(200);
    const after = await term(user.token, { session_id: id, command: "echo free" });
    expect(after.status).toBe(200);
    expect(after.body.stdout).toBe("free\n");
  });

  it("answers session_busy for a concurrent create of the same new id", async () => {
    const user = await newAccountWithToken();
    const fake = await connectTerminalWorker();
    const slow = term(user.token, { session_id: "twin", create_if_missing: true, command: "wait" });
    await waitFor(async () => fake.execs.length === 1);
    const twin = await term(user.token, { session_id: "twin", create_if_missing: true, command: "echo second" });
    expect(twin.status).toBe(409);
    fake.releaseWaiting();
    expect((await slow).body).toMatchObject({ session_id: "twin", created: true });
    expect(fake.sessions.size).toBe(1);
  });

  it("extends the lease monotonically, in the response and in D1", async () => {
    const user = await newAccountWithToken();
    await connectTerminalWorker();
    const long = await term(user.token, { command: "echo a", lease_ttl_sec: 1800 });
    expect(long.body.lease_expires_unix_ms).toBeGreaterThan(Date.now() + 1_790_000);
    const short = await term(user.token, { session_id: long.body.session_id, command: "echo b", lease_ttl_sec: 60 });
    expect(short.body.lease_expires_unix_ms).toBeGreaterThanOrEqual(long.body.lease_expires_unix_ms);
    const row = await sessionRow(user.accountId, long.body.session_id);
    expect(row?.lease_expires_at).toBe(short.body.lease_expires_unix_ms);

    const base = await term(user.token, { command: "echo c" });
    const longer = await term(user.token, { session_id: base.body.session_id, command: "echo d", lease_ttl_sec: 300 });
    expect(longer.body.lease_expires_unix_ms).toBeGreaterThan(base.body.lease_expires_unix_ms + 200_000);
  });

  it("drops the session when a command times out", async () => {
    const user = await newAccountWithToken();
    const fake = await connectTerminalWorker();
    const first = await term(user.token, { command: "echo a" });
    const id = first.body.session_id;
    const res = await term(user.token, { session_id: id, command: "hang", timeout_ms: 50 });
    expect(res.status).toBe(504);
    expect(typeof res.body.error).toBe("string");
    expect(fake.w.cancels).toHaveLength(1);

    const before = fake.w.dispatches.length;
    const gone = await term(user.token, { session_id: id, command: "echo b" });
    expect(gone.status).toBe(404);
    expect(fake.w.dispatches).toHaveLength(before);
    expect(await sessionRow(user.accountId, id)).toBeNull();
  });

  it("drops the session when the worker no longer knows it (reaped), or recreates it with create_if_missing", async () => {
    const user = await newAccountWithToken();
    const fake = await connectTerminalWorker();
    const first = await term(user.token, { command: "write f" });
    const id = first.body.session_id;

    fake.sessions.clear();
    const reaped = await term(user.token, { session_id: id, command: "cat f" });
    expect(reaped.status).toBe(404);
    expect(reaped.body).toEqual({ error: "session not found", code: "session_not_found" });
    expect(await sessionRow(user.accountId, id)).toBeNull();

    const made = await term(user.token, { session_id: id, create_if_missing: true, command: "cat f" });
    expect(made.status).toBe(200);
    expect(made.body).toMatchObject({ created: true, exit_code: 1 });

    fake.sessions.clear();
    const remade = await term(user.token, { session_id: id, create_if_missing: true, command: "echo back" });
    expect(remade.status).toBe(200);
    expect(remade.body).toMatchObject({ created: true, stdout: "back\n" });
  });

  it("answers session_not_found when the pinned worker is gone, and recreates elsewhere with create_if_missing", async () => {
    const user = await newAccountWithToken();
    const first = await connectTerminalWorker();
    const made = await term(user.token, { session_id: "pinned", create_if_missing: true, command: "echo a" });
    expect(made.status).toBe(200);
    await disconnect(first.w);
    const second = await connectTerminalWorker();

    const gone = await term(user.token, { session_id: "pinned", command: "echo b" });
    expect(gone.status).toBe(404);
    expect(second.execs).toHaveLength(0);

    await term(user.token, { session_id: "pinned2", create_if_missing: true, command: "echo a" });
    await disconnect(second.w);
    const third = await connectTerminalWorker();
    const again = await term(user.token, { session_id: "pinned2", create_if_missing: true, command: "echo moved" });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ created: true, stdout: "moved\n" });
    expect((await sessionRow(user.accountId, "pinned2"))?.node_id).toBe(third.w.nodeId);
  });

  it("answers 503 (not session_not_found) when a first-time create finds no worker, and keeps nothing", async () => {
    const user = await newAccountWithToken();
    const res = await term(user.token, { session_id: "nowhere", create_if_missing: true, command: "echo a" });
    expect(res.status).toBe(503);
    const after = await term(user.token, { session_id: "nowhere", command: "echo a" });
    expect(after.status).toBe(404);
    expect(await sessionRow(user.accountId, "nowhere")).toBeNull();
  });

  it("drops an idle session when its lease expires (alarm)", async () => {
    const user = await newAccountWithToken();
    await connectTerminalWorker();
    const res = await term(user.token, { command: "echo a" });
    const id = res.body.session_id;
    const stub = sessionStub(user.accountId, id);
    await runInDurableObject(stub, (_obj, state) => {
      const s = state.storage.kv.get<SessionState>("state");
      if (!s) throw new Error("no session state");
      state.storage.kv.put("state", { ...s, leaseExpiresUnixMs: Date.now() - 1 });
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await waitFor(async () => (await sessionRow(user.accountId, id)) === null);
    const gone = await term(user.token, { session_id: id, command: "echo b" });
    expect(gone.status).toBe(404);
  });

  it("keeps a session whose alarm comes before its renewed lease, and wakes again at the new lease", async () => {
    const user = await newAccountWithToken();
    await connectTerminalWorker();
    const first = await term(user.token, { command: "echo a", lease_ttl_sec: 60 });
    const id = first.body.session_id;
    const renewed = await term(user.token, { session_id: id, command: "echo b", lease_ttl_sec: 600 });
    expect(renewed.status).toBe(200);
    const lease = renewed.body.lease_expires_unix_ms;
    const stub = sessionStub(user.accountId, id);
    const alarmAndStoredLease = async () => ({
      alarm: await runInDurableObject(stub, (_obj, state) => state.storage.getAlarm()),
      stored: await storedLease(stub),
    });
    const before = await alarmAndStoredLease();
    // Stored ahead of the lease, never behind it: a restart cannot shorten it.
    expect(before.stored).toBe(lease + LEASE_WRITE_AHEAD_MS);
    // Never later than the lease: the session must not outlive it unnoticed.
    expect(before.alarm).not.toBeNull();
    expect(before.alarm ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(lease);
    // An alarm that comes before the lease ends leaves the session alone and waits for the lease.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await alarmAndStoredLease()).toEqual({ alarm: lease, stored: before.stored });
    expect((await term(user.token, { session_id: id, command: "echo c" })).status).toBe(200);
  });

  it("writes a renewed lease to storage only once it passes the stored one", async () => {
    const user = await newAccountWithToken();
    await connectTerminalWorker();
    const first = await term(user.token, { command: "echo a" });
    const id = first.body.session_id;
    const stub = sessionStub(user.accountId, id);
    const written = await storedLease(stub);
    expect(written).toBe(first.body.lease_expires_unix_ms + LEASE_WRITE_AHEAD_MS);
    // The fake worker answers a lease of now + ttl: commands within the write-ahead renew it in memory only.
    const second = await term(user.token, { session_id: id, command: "echo b" });
    expect(second.body.lease_expires_unix_ms).toBeGreaterThanOrEqual(first.body.lease_expires_unix_ms);
    expect(second.body.lease_expires_unix_ms).toBeLessThan(written);
    expect(await storedLease(stub)).toBe(written);
    // A lease past the stored one is written, again ahead of it.
    const longer = await term(user.token, { session_id: id, command: "echo c", lease_ttl_sec: 600 });
    expect(longer.body.lease_expires_unix_ms).toBeGreaterThan(written);
    expect(await storedLease(stub)).toBe(longer.body.lease_expires_unix_ms + LEASE_WRITE_AHEAD_MS);
  });

  it("survives the session object being reset (everything is in storage)", async () => {
    const user = await newAccountWithToken();
    const fake = await connectTerminalWorker();
    const res = await term(user.token, { command: "write kept" });
    const id = res.body.session_id;
    const stub = sessionStub(user.accountId, id);
    await runInDurableObject(stub, (_obj, state) => {
      try {
        state.abort("simulated restart");
      } catch {
        // abort throws in the caller by design
      }
    }).catch(() => {});
    const after = await term(user.token, { session_id: id, command: "cat kept" });
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ created: false, stdout: "content of kept\n" });
    // The restarted object knows the stored lease, which is never shorter than the one answered.
    expect(after.body.lease_expires_unix_ms).toBeGreaterThanOrEqual(res.body.lease_expires_unix_ms);
    expect(fake.sessions.size).toBe(1);
  });

  it.each([
    [{}, "command: is required"],
    [{ command: "  " }, "command: must not be blank"],
    [{ command: "echo a\u0000b" }, "command: must not contain NUL characters"],
    [{ command: "x", timeout_ms: 0 }, "timeout_ms: must be an integer between 1 and 600000"],
    [{ command: "x", timeout_ms: 600_001 }, "timeout_ms: must be an integer between 1 and 600000"],
    [{ command: "x", lease_ttl_sec: 59 }, "lease_ttl_sec: must be an integer between 60 and 1800"],
    [{ command: "x", lease_ttl_sec: 1801 }, "lease_ttl_sec: must be an integer between 60 and 1800"],
    [{ command: "x", session_id: "a b" }, "session_id: must be printable ASCII without spaces"],
    [{ command: "x", extra: true }, "unknown field: extra"],
  ])("refuses %j with 400 and dispatches nothing", async (body, message) => {
    const user = await newAccountWithToken();
    const fake = await connectTerminalWorker();
    const res = await term(user.token, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: message, code: "invalid_argument" });
    expect(fake.w.dispatches).toHaveLength(0);
  });

  it("answers 401 without a bearer token", async () => {
    const res = await callJson("/api/v1/commands/terminal", { method: "POST", body: { command: "x" } });
    expect(res.status).toBe(401);
  });
});

describe("POST /api/v1/commands/terminal with Accept: text/event-stream", () => {
  async function events(
    token: string,
    body: unknown,
  ): Promise<{ status: number; type: string | null; events: Array<{ event: string; data: unknown }> }> {
    const res = await call("/api/v1/commands/terminal", {
      method: "POST",
      bearer: token,
      body,
      headers: { accept: "text/event-stream" },
    });
    const text = await res.text();
    const out: Array<{ event: string; data: unknown }> = [];
    for (const block of text.split("\n\n")) {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event !== undefined && data !== undefined) out.push({ event, data: JSON.parse(data) as unknown });
    }
    return { status: res.status, type: res.headers.get("content-type"), events: out };
  }

  it("streams output events, then the result", async () => {
    const user = await newAccountWithToken();
    await connectTerminalWorker();
    const res = await events(user.token, { command: "stream" });
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/event-stream/);
    expect(res.events.slice(0, 3)).toEqual([
      { event: "stdout", data: { text: "part-1 " } },
      { event: "stderr", data: { text: "warn" } },
      { event: "stdout", data: { text: "part-2" } },
    ]);
    expect(res.events[3]).toMatchObject({ event: "result", data: { created: true, stdout: "part-1 part-2", exit_code: 0 } });
    expect(res.events).toHaveLength(4);
  });

  it("ends with an error event for a session error, and a bad body is still a plain 400", async () => {
    const user = await newAccountWithToken();
    await connectTerminalWorker();
    const res = await events(user.token, { command: "echo", session_id: "missing" });
    expect(res.events).toEqual([
      { event: "error", data: { error: "session not found", code: "session_not_found", status: 404 } },
    ]);
    const bad = await callJson("/api/v1/commands/terminal", {
      method: "POST",
      bearer: user.token,
      body: {},
      headers: { accept: "text/event-stream" },
    });
    expect(bad.status).toBe(400);
  });
});

describe("readTerminalResource", () => {
  it("reads a file on the session's node under the client's session id", async () => {
    const user = await newAccountWithToken();
    const fake = await connectTerminalWorker();
    const made = await term(user.token, { command: "write /tmp/p.png" });
    const id = made.body.session_id;
    const read = await readTerminalResource(env, user.accountId, { session_id: id, file_path: "/tmp/p.png", action: "read" });
    expect(read).toEqual({ session_id: id, file_path: "/tmp/p.png", mime_type: "image/png", size_bytes: 3, blob: btoa("png") });
    const check = await readTerminalResource(env, user.accountId, {
      session_id: id,
      file_path: "/tmp/p.png",
      action: "validate",
    });
    expect(check.blob).toBeUndefined();
    expect(fake.w.dispatches.filter((d) => d.capability === "terminalResource")).toHaveLength(2);

    await expect(
      readTerminalResource(env, user.accountId, { session_id: id, file_path: "/tmp/none.png", action: "read" }),
    ).rejects.toMatchObject({ code: "file_not_found" });
    await expect(
      readTerminalResource(env, user.accountId, { session_id: id, file_path: "/tmp/", action: "read" }),
    ).rejects.toMatchObject({ code: "path_is_directory" });
    // A failed read leaves the session usable.
    expect((await term(user.token, { session_id: id, command: "echo ok" })).status).toBe(200);
  });

  it("answers session_not_found for another account's session without dispatching", async () => {
    const alice = await newAccountWithToken();
    const bob = await newAccountWithToken();
    const fake = await connectTerminalWorker();
    const made = await term(alice.token, { command: "write /f" });
    const before = fake.w.dispatches.length;
    await expect(
      readTerminalResource(env, bob.accountId, { session_id: made.body.session_id, file_path: "/f", action: "read" }),
    ).rejects.toMatchObject({ code: "session_not_found" });
    expect(fake.w.dispatches).toHaveLength(before);
  });
});
