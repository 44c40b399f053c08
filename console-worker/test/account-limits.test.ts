/**
 * Per-account limits through the real app, the AccountLimits/Session/WorkerNode objects
 * and the real worker wire: one account hoarding sessions or run slots gets 429 naming
 * the limit while another account is still served, and every way a run or session ends
 * gives its slot back.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { DEFAULT_ACCOUNT_MAX_RUNS, DEFAULT_ACCOUNT_MAX_SESSIONS, DEFAULT_SESSION_MAX_LIFETIME_SEC } from "../src/lib/limits.ts";
import { accountLimitsStub } from "../src/objects/account-limits.ts";
import type { SessionState } from "../src/objects/session.ts";
import { QUEUE_MARGIN_MS } from "../src/objects/worker-node.ts";
import { callJson, newAccountWithToken, waitFor } from "./helpers.ts";
import { connectTestWorker, type TestReply, type TestWorker, terminalReply, workersClosedAfterEach } from "./worker-harness.ts";

const workers = workersClosedAfterEach();

interface Held {
  release: (reply: TestReply) => void;
}

/**
 * A worker offering echo, pythonExec and terminalExec with more slots than any one account
 * may use. Echo messages and Python code starting with "hold", and terminal commands
 * "hold", wait for `release`; "fail" answers an error; terminal command "timeout" answers
 * `deadline_exceeded` (the worker removed the container).
 */
async function connectWorker(): Promise<{ w: TestWorker; held: Held[] }> {
  const held: Held[] = [];
  const w = await connectTestWorker({
    capabilities: [
      { name: "echo", maxInflight: 32 },
      { name: "pythonExec", maxInflight: 32 },
      { name: "terminalExec", maxInflight: 32 },
    ],
    handler: (d, raw) => {
      const p = raw as { message?: string; code?: string; command?: string; lease_ttl_sec?: number };
      const reply: TestReply =
        d.capability === "echo"
          ? { payload: { message: p.message } }
          : d.capability === "pythonExec"
            ? { payload: { output: `${p.code}\n`, stderr: "", exit_code: 0 } }
            : terminalReply((raw as { session_id?: string }).session_id ?? "", {
                stdout: "ok\n",
                lease_expires_unix_ms: Date.now() + (p.lease_ttl_sec ?? 60) * 1000,
              });
      const tag = p.message ?? p.code;
      if (tag === "fail") return { error: { code: "boom", message: "the worker failed" } };
      if (p.command === "timeout") return { error: { code: "deadline_exceeded", message: "killed at its deadline" } };
      if (tag?.startsWith("hold") || p.command === "hold") {
        return new Promise<TestReply>((resolve) => held.push({ release: resolve }));
      }
      return reply;
    },
  });
  await w.acked;
  workers.push(w);
  return { w, held };
}

function terminal(token: string, body: Record<string, unknown>) {
  return callJson<{ session_id: string; lease_expires_unix_ms: number; error?: string }>("/api/v1/commands/terminal", {
    method: "POST",
    bearer: token,
    body,
  });
}

function echo(token: string, message: string, timeoutMs = 20_000) {
  return callJson<{ message?: string; error?: string }>("/api/v1/commands/echo", {
    method: "POST",
    bearer: token,
    body: { message, timeout_ms: timeoutMs },
  });
}

/** A fresh-container pythonExec run as a sync task: `code` is the tag the test worker acts on. */
function python(token: string, code: string, timeoutMs = 20_000) {
  return callJson<{ status: string; result?: { output: string }; error?: { code: string; message: string } }>("/api/v1/tasks", {
    method: "POST",
    bearer: token,
    body: { capability: "pythonExec", input: { code }, mode: "sync", timeout_ms: timeoutMs },
  });
}

function held(accountId: string): Promise<{ runs: number; sessions: number }> {
  return accountLimitsStub(env, accountId).held();
}

describe("per-account open sessions", () => {
  it("one account hoarding sessions gets 429 account_session_limit while another is still served", async () => {
    await connectWorker();
    const hoarder = await newAccountWithToken();
    const other = await newAccountWithToken();
    const ids: string[] = [];
    for (let i = 0; i < DEFAULT_ACCOUNT_MAX_SESSIONS; i++) {
      const res = await terminal(hoarder.token, { command: "echo hi" });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      ids.push(res.body.session_id);
    }
    const refused = await terminal(hoarder.token, { command: "echo one more" });
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatch(/^account_session_limit: .*limit is 8/);
    // Existing sessions of the hoarder still work: the limit is on opening, not on use.
    expect((await terminal(hoarder.token, { command: "echo again", session_id: ids[0] })).status).toBe(200);
    // Another account is served.
    const served = await terminal(other.token, { command: "echo hi" });
    expect(served.status).toBe(200);
    expect(await held(other.accountId)).toEqual({ runs: 0, sessions: 1 });
    expect(await held(hoarder.accountId)).toEqual({ runs: 0, sessions: DEFAULT_ACCOUNT_MAX_SESSIONS });
  });

  it("gives the slot back when a session ends (a command timing out removes it)", async () => {
    await connectWorker();
    const a = await newAccountWithToken();
    const ids: string[] = [];
    for (let i = 0; i < DEFAULT_ACCOUNT_MAX_SESSIONS; i++)
      ids.push((await terminal(a.token, { command: "echo hi" })).body.session_id);
    expect((await terminal(a.token, { command: "echo no" })).status).toBe(429);
    const timedOut = await terminal(a.token, { command: "timeout", session_id: ids[0] });
    expect(timedOut.status).toBe(504);
    expect(await held(a.accountId)).toEqual({ runs: 0, sessions: DEFAULT_ACCOUNT_MAX_SESSIONS - 1 });
    expect((await terminal(a.token, { command: "echo yes" })).status).toBe(200);
  });

  it("gives the slot back when an idle session's lease expires", async () => {
    await connectWorker();
    const a = await newAccountWithToken();
    const opened = await terminal(a.token, { command: "echo hi" });
    expect(await held(a.accountId)).toEqual({ runs: 0, sessions: 1 });
    const stub = env.SESSION.get(env.SESSION.idFromName(`${a.accountId}:${opened.body.session_id}`));
    await runInDurableObject(stub, (_o, state) => {
      const s = state.storage.kv.get<SessionState>("state");
      if (s) state.storage.kv.put("state", { ...s, leaseExpiresUnixMs: Date.now() - 1 });
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await waitFor(async () => (await held(a.accountId)).sessions === 0);
  });

  it("reclaims a slot whose session is gone even if its release was lost", async () => {
    const a = await newAccountWithToken();
    const stub = accountLimitsStub(env, a.accountId);
    // Holds for sessions that never existed, recorded as already expired: what a lost release leaves.
    for (let i = 0; i < DEFAULT_ACCOUNT_MAX_SESSIONS; i++) {
      expect(await stub.acquireSession(a.accountId, `ghost-${i}`, Date.now() - 1, DEFAULT_ACCOUNT_MAX_SESSIONS)).toEqual({
        ok: true,
      });
    }
    await connectWorker();
    expect((await terminal(a.token, { command: "echo hi" })).status).toBe(200);
    expect(await held(a.accountId)).toEqual({ runs: 0, sessions: 1 });
  });

  it("does not renew a lease past the maximum session lifetime", async () => {
    await connectWorker();
    const a = await newAccountWithToken();
    const first = await terminal(a.token, { command: "echo hi" });
    const sessionStub = env.SESSION.get(env.SESSION.idFromName(`${a.accountId}:${first.body.session_id}`));
    // Pretend the session was opened almost a lifetime ago.
    const createdAt = Date.now() - DEFAULT_SESSION_MAX_LIFETIME_SEC * 1000 + 90_000;
    await runInDurableObject(sessionStub, (_o, state) => {
      const s = state.storage.kv.get<SessionState>("state");
      if (s) state.storage.kv.put("state", { ...s, createdAt });
    });
    const renewed = await terminal(a.token, { command: "echo hi", session_id: first.body.session_id, lease_ttl_sec: 1800 });
    expect(renewed.status).toBe(200);
    expect(renewed.body.lease_expires_unix_ms).toBe(createdAt + DEFAULT_SESSION_MAX_LIFETIME_SEC * 1000);
  });
});

describe("per-account concurrent runs", () => {
  const noRunsHeld = (accountId: string) => waitFor(async () => (await held(accountId)).runs === 0);
  const done = { payload: { output: "done\n", stderr: "", exit_code: 0 } };

  it("one account filling its run slots gets 429 account_run_limit once its wait outlasts the timeout, while another is still served", async () => {
    const { held: waiting } = await connectWorker();
    const hoarder = await newAccountWithToken();
    const other = await newAccountWithToken();
    const running = Array.from({ length: DEFAULT_ACCOUNT_MAX_RUNS }, (_, i) => python(hoarder.token, `hold-${i}`));
    await waitFor(async () => waiting.length === DEFAULT_ACCOUNT_MAX_RUNS);
    const started = Date.now();
    const refused = await python(hoarder.token, "one too many", 300);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ status: "failed", error: { code: "account_run_limit" } });
    expect(refused.body.error?.message).toMatch(/^account_run_limit: .*limit is 8/);
    // It waited (until shortly before its deadline) rather than being refused at once.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300 - QUEUE_MARGIN_MS - 50);
    // The other account is served although the worker runs 8 commands of the hoarder.
    expect(await python(other.token, "served")).toMatchObject({ status: 200, body: { result: { output: "served\n" } } });
    for (const h of waiting.splice(0)) h.release(done);
    expect((await Promise.all(running)).map((r) => r.status)).toEqual(Array(DEFAULT_ACCOUNT_MAX_RUNS).fill(200));
    await noRunsHeld(hoarder.accountId);
    expect((await python(hoarder.token, "after")).status).toBe(200);
  });

  it("counts only fresh-container runs: at its run limit an account still echoes and runs commands in its sessions", async () => {
    const { held: waiting } = await connectWorker();
    const a = await newAccountWithToken();
    const session = await terminal(a.token, { command: "echo hi" });
    expect(session.status).toBe(200);
    const running = Array.from({ length: DEFAULT_ACCOUNT_MAX_RUNS }, (_, i) => python(a.token, `hold-${i}`));
    await waitFor(async () => waiting.length === DEFAULT_ACCOUNT_MAX_RUNS);
    expect((await held(a.accountId)).runs).toBe(DEFAULT_ACCOUNT_MAX_RUNS);
    // Neither waits for the account's runs: echo runs nothing, and a session runs one command
    // at a time within the account's session limit.
    expect(await echo(a.token, "still here", 2_000)).toMatchObject({ status: 200, body: { message: "still here" } });
    const inSession = await terminal(a.token, { command: "echo hi", session_id: session.body.session_id, timeout_ms: 2_000 });
    expect(inSession.status).toBe(200);
    // A session command holding the worker is not counted either.
    const heldCommand = terminal(a.token, { command: "hold", session_id: session.body.session_id });
    await waitFor(async () => waiting.length === DEFAULT_ACCOUNT_MAX_RUNS + 1);
    expect((await held(a.accountId)).runs).toBe(DEFAULT_ACCOUNT_MAX_RUNS);
    for (const h of waiting.splice(0, DEFAULT_ACCOUNT_MAX_RUNS)) h.release(done);
    waiting.shift()?.release(terminalReply("", { stdout: "ok\n" }));
    expect((await heldCommand).status).toBe(200);
    expect((await Promise.all(running)).map((r) => r.status)).toEqual(Array(DEFAULT_ACCOUNT_MAX_RUNS).fill(200));
    await noRunsHeld(a.accountId);
  });

  it("a run over the account's limit waits for one of its own to end and then runs", async () => {
    const { held: waiting } = await connectWorker();
    const a = await newAccountWithToken();
    const running = Array.from({ length: DEFAULT_ACCOUNT_MAX_RUNS }, (_, i) => python(a.token, `hold-${i}`));
    await waitFor(async () => waiting.length === DEFAULT_ACCOUNT_MAX_RUNS);
    const queued = python(a.token, "queued");
    let settled = false;
    void queued.then(() => {
      settled = true;
    });
    // It waits (no worker saw it) until one of the account's runs ends.
    await new Promise((r) => setTimeout(r, 200));
    expect(settled).toBe(false);
    expect(waiting).toHaveLength(DEFAULT_ACCOUNT_MAX_RUNS);
    waiting.shift()?.release(done);
    expect(await queued).toMatchObject({ status: 200, body: { result: { output: "queued\n" } } });
    for (const h of waiting.splice(0)) h.release(done);
    expect((await Promise.all(running)).map((r) => r.status)).toEqual(Array(DEFAULT_ACCOUNT_MAX_RUNS).fill(200));
    await noRunsHeld(a.accountId);
  });

  it("gives run slots back on failure, timeout and worker disconnect", async () => {
    const { w, held: waiting } = await connectWorker();
    const a = await newAccountWithToken();
    // Failure: the worker answers with an error.
    expect((await python(a.token, "fail")).status).toBe(502);
    await noRunsHeld(a.accountId);
    // Timeout: the console's deadline ends the run.
    expect((await python(a.token, "hold-timeout", 200)).status).toBe(504);
    await noRunsHeld(a.accountId);
    // Disconnect: the worker goes away with commands running.
    const lost = Array.from({ length: 3 }, (_, i) => python(a.token, `hold-lost-${i}`));
    await waitFor(async () => waiting.length === 4);
    expect((await held(a.accountId)).runs).toBe(3);
    w.close();
    expect((await Promise.all(lost)).map((r) => r.status)).toEqual([502, 502, 502]);
    await noRunsHeld(a.accountId);
  });

  it("gives the run slot back when a task is canceled", async () => {
    const { held: waiting } = await connectWorker();
    const a = await newAccountWithToken();
    const task = await callJson<{ task_id: string }>("/api/v1/tasks", {
      method: "POST",
      bearer: a.token,
      body: { capability: "pythonExec", input: { code: "hold-cancel" }, mode: "async" },
    });
    expect(task.status).toBe(202);
    await waitFor(async () => waiting.length === 1);
    expect((await held(a.accountId)).runs).toBe(1);
    const canceled = await callJson(`/api/v1/tasks/${task.body.task_id}/cancel`, { method: "POST", bearer: a.token });
    expect(canceled.status).toBe(200);
    await noRunsHeld(a.accountId);
  });

  it("expires a run hold whose release was lost, at its deadline plus grace", async () => {
    const a = await newAccountWithToken();
    const stub = accountLimitsStub(env, a.accountId);
    const until = Date.now() + 400;
    for (let i = 0; i < DEFAULT_ACCOUNT_MAX_RUNS; i++) {
      expect(await stub.acquireRun(`lost-${i}`, until, DEFAULT_ACCOUNT_MAX_RUNS)).toEqual({ ok: true });
    }
    expect(await stub.acquireRun("next", Date.now() + 60_000, DEFAULT_ACCOUNT_MAX_RUNS)).toEqual({ ok: false, held: 8 });
    // Once their hold time passes, the lost runs no longer count.
    await waitFor(async () => (await stub.acquireRun("next", Date.now() + 60_000, DEFAULT_ACCOUNT_MAX_RUNS)).ok);
    expect(Date.now()).toBeGreaterThanOrEqual(until);
  });

  it("keeps a durable copy of the runs only from half the limit on, and drops it when they end", async () => {
    const a = await newAccountWithToken();
    const stub = accountLimitsStub(env, a.accountId);
    const stored = () =>
      runInDurableObject(stub, (_o, state) => Object.keys(state.storage.kv.get<Record<string, number>>("runs") ?? {}).length);
    const limit = 8;
    for (let i = 0; i < 3; i++) await stub.acquireRun(`r${i}`, Date.now() + 60_000, limit);
    expect(await stored()).toBe(0);
    await stub.acquireRun("r3", Date.now() + 60_000, limit);
    expect(await stored()).toBe(4);
    // An object that restarts now (reads its storage again) would still count those four.
    for (let i = 0; i < 4; i++) await stub.releaseRun(`r${i}`);
    expect(await stored()).toBe(0);
    expect(await stub.held()).toEqual({ runs: 0, sessions: 0 });
  });
});
