/**
 * Terminal sessions through the real console, its Docker worker and real containers:
 * every behaviour of `POST /api/v1/commands/terminal` a client relies on.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  containersOf,
  createAccountToken,
  eventually,
  hostProcessesWith,
  marker,
  post,
  type StartedConsole,
  sleep,
  startConsole,
  stopAndListLeftovers,
  type TerminalBody,
  terminal,
} from "./harness.ts";

let c: StartedConsole;
let otherToken: string;
/** A session created first and never used again: the last test sees its lease run out. */
let idle: TerminalBody;

/** Session containers of this console's worker. */
async function terminalContainerCount(): Promise<number> {
  return (await containersOf(c, "terminalExec")).length;
}

beforeAll(async () => {
  // One account opens a session per test here, more than the per-account default (8) allows
  // at once; the limit itself is tested in console-worker/test/account-limits.test.ts.
  c = await startConsole({ env: { CONSOLE_ENABLE_REGISTRATION: "true", CONSOLE_ACCOUNT_MAX_SESSIONS: "32" } });
  otherToken = await createAccountToken(c, "other-account");
  idle = (await terminal(c, { command: "echo idle > ~/idle.txt" })).body;
}, 180_000);

afterAll(async () => {
  expect(await stopAndListLeftovers(c)).toEqual([]);
}, 90_000);

describe("POST /api/v1/commands/terminal", () => {
  it("creates a new session when no session_id is given", async () => {
    const res = await terminal(c, { command: "echo hello; echo oops >&2; exit 3" });
    expect(res.status).toBe(200);
    expect(res.body.session_id).toMatch(/^sess_/);
    expect(res.body.created).toBe(true);
    expect(res.body.stdout).toBe("hello\n");
    expect(res.body.stderr).toBe("oops\n");
    expect(res.body.exit_code).toBe(3);
    expect(res.body.stdout_truncated).toBe(false);
    expect(res.body.stderr_truncated).toBe(false);
    expect(res.body.lease_expires_unix_ms).toBeGreaterThan(Date.now() + 50_000);
    expect(res.body.lease_expires_unix_ms).toBeLessThan(Date.now() + 70_000);
  });

  it("keeps the filesystem and answers created=false when the session is reused", async () => {
    const first = await terminal(c, { command: "cd ~ && echo kept > state.txt && pwd" });
    expect(first.status).toBe(200);
    const second = await terminal(c, { session_id: first.body.session_id, command: "cat ~/state.txt" });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ session_id: first.body.session_id, created: false, stdout: "kept\n", exit_code: 0 });
  });

  it("runs commands with sh -lc (pipes, variables, globbing)", async () => {
    const res = await terminal(c, { command: 'X=abc; echo "$X" | tr a-z A-Z; ls / | grep -c tmp' });
    expect(res.status).toBe(200);
    expect(res.body.stdout).toBe("ABC\n1\n");
  });

  it("answers session_not_found for an unknown id unless create_if_missing", async () => {
    const id = marker("mine");
    const missing = await terminal(c, { session_id: id, command: "true" });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatch(/session/i);
    expect(missing.body.code).toBe("session_not_found");

    const created = await terminal(c, { session_id: id, create_if_missing: true, command: "echo made" });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ session_id: id, created: true, stdout: "made\n" });

    const again = await terminal(c, { session_id: id, create_if_missing: true, command: "echo again" });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ session_id: id, created: false, stdout: "again\n" });
  });

  it("isolates accounts: another account's session is indistinguishable from a missing one", async () => {
    const id = marker("shared-name");
    const mine = await terminal(c, { session_id: id, create_if_missing: true, command: "echo secret > ~/mine.txt" });
    expect(mine.status).toBe(200);

    const theirs = await terminal(c, { session_id: id, command: "cat ~/mine.txt" }, otherToken);
    expect(theirs.status).toBe(404);
    expect(theirs.body.error).toBe((await terminal(c, { session_id: marker("nobody"), command: "true" })).body.error);

    // The same name in the other account is a separate session with its own container.
    const own = await terminal(c, { session_id: id, create_if_missing: true, command: "cat ~/mine.txt" }, otherToken);
    expect(own.status).toBe(200);
    expect(own.body.created).toBe(true);
    expect(own.body.exit_code).not.toBe(0);
    expect(own.body.stdout).toBe("");

    const still = await terminal(c, { session_id: id, command: "cat ~/mine.txt" });
    expect(still.status).toBe(200);
    expect(still.body.stdout).toBe("secret\n");
  });

  it("answers session_busy at once while another command runs in the session", async () => {
    const first = await terminal(c, { command: "true" });
    const id = first.body.session_id;
    const tag = marker("busy");
    const slow = terminal(c, { session_id: id, command: `sh -c 'sleep 3' ${tag}; echo done` });
    // The session is busy once the slow command runs inside its container (visible from the host).
    expect(await eventually(async () => (await hostProcessesWith(tag)).length > 0, 10_000, 50)).toBe(true);
    const busy = await terminal(c, { session_id: id, command: "echo too-soon" });
    expect(busy.status).toBe(409);
    expect(busy.body.error).toMatch(/busy/i);
    expect(busy.body.code).toBe("session_busy");
    expect(busy.elapsedMs).toBeLessThan(1500);
    const done = await slow;
    expect(done.status).toBe(200);
    expect(done.body.stdout).toBe("done\n");
    // Free again once the slow command is over.
    const after = await terminal(c, { session_id: id, command: "echo free" });
    expect(after.status).toBe(200);
    expect(after.body.stdout).toBe("free\n");
  });

  it("extends the lease monotonically and never shortens it", async () => {
    const long = await terminal(c, { command: "true", lease_ttl_sec: 1800 });
    expect(long.status).toBe(200);
    const longExpiry = long.body.lease_expires_unix_ms;
    expect(longExpiry).toBeGreaterThan(Date.now() + 1_700_000);

    const short = await terminal(c, { session_id: long.body.session_id, command: "true", lease_ttl_sec: 60 });
    expect(short.status).toBe(200);
    expect(short.body.lease_expires_unix_ms).toBeGreaterThanOrEqual(longExpiry);

    const dflt = await terminal(c, { command: "true" });
    const again = await terminal(c, { session_id: dflt.body.session_id, command: "true", lease_ttl_sec: 600 });
    expect(again.body.lease_expires_unix_ms).toBeGreaterThan(dflt.body.lease_expires_unix_ms);
  });

  it("answers at the deadline when a command outlives timeout_ms, removes the container and drops the session", async () => {
    const tag = marker("term-loop");
    const first = await terminal(c, { command: "echo ready" });
    const id = first.body.session_id;
    const before = await terminalContainerCount();

    const res = await terminal(c, { session_id: id, command: `sh -c 'while :; do :; done' ${tag}`, timeout_ms: 2_000 });
    expect(res.status).toBe(504);
    expect(typeof res.body.error).toBe("string");
    expect(res.elapsedMs).toBeGreaterThanOrEqual(1_900);
    expect(res.elapsedMs).toBeLessThan(6_000);

    expect(await eventually(async () => (await hostProcessesWith(tag)).length === 0, 10_000)).toBe(true);
    expect(await eventually(async () => (await terminalContainerCount()) <= before - 1, 10_000)).toBe(true);

    const gone = await terminal(c, { session_id: id, command: "echo still-here?" });
    expect(gone.status).toBe(404);

    // create_if_missing recreates it: a fresh container, files gone.
    const fresh = await terminal(c, { session_id: id, create_if_missing: true, command: "echo new" });
    expect(fresh.status).toBe(200);
    expect(fresh.body.created).toBe(true);
  });

  it("caps each stream at 1 MiB and flags the cut", async () => {
    const res = await terminal(c, {
      command: "head -c 52428800 /dev/zero | tr '\\0' a; head -c 3000000 /dev/zero | tr '\\0' b >&2",
      timeout_ms: 120_000,
    });
    expect(res.status).toBe(200);
    expect(res.body.stdout_truncated).toBe(true);
    expect(res.body.stderr_truncated).toBe(true);
    expect(res.body.stdout.length).toBeLessThanOrEqual(1024 * 1024);
    expect(res.body.stdout.length).toBeGreaterThan(0);
    expect(res.body.stdout).toMatch(/^a+$/);
    expect(res.body.stderr.length).toBeLessThanOrEqual(1024 * 1024);
  });

  it("streams output as Server-Sent Events while the command runs when asked", async () => {
    const res = await fetch(`${c.url}/api/v1/commands/terminal`, {
      method: "POST",
      headers: { authorization: `Bearer ${c.token}`, "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ command: "for i in 1 2 3; do echo line-$i; sleep 0.5; done" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = res.body?.getReader();
    if (!reader) throw new Error("no body");
    const events: Array<{ event: string; data: Record<string, unknown>; at: number }> = [];
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let cut = buffered.indexOf("\n\n");
      while (cut >= 0) {
        const block = buffered.slice(0, cut);
        buffered = buffered.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) {
          events.push({ event, data: JSON.parse(data) as Record<string, unknown>, at: Date.now() });
        }
        cut = buffered.indexOf("\n\n");
      }
    }
    const streamed = events
      .filter((e) => e.event === "stdout")
      .map((e) => e.data.text)
      .join("");
    expect(streamed).toBe("line-1\nline-2\nline-3\n");
    const last = events.at(-1);
    expect(last?.event).toBe("result");
    expect(last?.data).toMatchObject({ stdout: "line-1\nline-2\nline-3\n", exit_code: 0, created: true });
    // The first line arrived while the command was still running, not with the result.
    const first = events.find((e) => e.event === "stdout");
    expect((last?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThan(600);
  });

  it("answers valid JSON for bytes that are not UTF-8 and NUL bytes", async () => {
    const res = await terminal(c, { command: "printf 'x\\377\\376\\000y\\n'" });
    expect(res.status).toBe(200);
    expect(res.body.exit_code).toBe(0);
    expect(res.body.stdout.startsWith("x")).toBe(true);
    expect(res.body.stdout.endsWith("y\n")).toBe(true);
  });

  it("runs as a user other than root", async () => {
    const res = await terminal(c, { command: "id -u" });
    expect(res.status).toBe(200);
    expect(res.body.stdout.trim()).not.toBe("0");
  });

  it.each([
    [{}, /command/],
    [{ command: "   " }, /command/],
    [{ command: "true", timeout_ms: 0 }, /timeout_ms/],
    [{ command: "true", timeout_ms: 600_001 }, /timeout_ms/],
    [{ command: "true", lease_ttl_sec: 59 }, /lease_ttl_sec/],
    [{ command: "true", lease_ttl_sec: 1801 }, /lease_ttl_sec/],
    [{ command: "true", session_id: "has space" }, /session_id/],
    [{ command: "true", surprise: 1 }, /surprise/],
    [{ command: 42 }, /command/],
  ])("refuses %j with 400 and leaves nothing behind", async (body, message) => {
    const before = await terminalContainerCount();
    const res = await terminal(c, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(message);
    expect(res.body.code).toBe("invalid_argument");
    expect(await terminalContainerCount()).toBeLessThanOrEqual(before);
  });

  it("refuses a body that is not JSON with 400", async () => {
    const res = await post(c.url, c.token, "/api/v1/commands/terminal", "{not json");
    expect(res.status).toBe(400);
    expect(typeof res.body.error).toBe("string");
  });

  it("refuses requests without a valid bearer token with 401", async () => {
    const res = await post(c.url, "obx_not_a_token", "/api/v1/commands/terminal", { command: "true" });
    expect(res.status).toBe(401);
  });

  it("drops an idle session once its lease has expired", async () => {
    expect(idle.lease_expires_unix_ms).toBeGreaterThan(0);
    const wait = idle.lease_expires_unix_ms + 3_000 - Date.now();
    if (wait > 0) await sleep(wait);
    const res = await terminal(c, { session_id: idle.session_id, command: "cat ~/idle.txt" });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(/session/i);
  }, 120_000);
});

describe("a terminal session across a console restart", () => {
  let r: StartedConsole;

  beforeAll(async () => {
    r = await startConsole({ separateWorker: true });
  }, 240_000);

  afterAll(async () => {
    expect(await stopAndListLeftovers(r)).toEqual([]);
  }, 90_000);

  it("keeps routing to the same container after the console restarts (the worker keeps running)", async () => {
    const first = await terminal(r, { command: "echo before > ~/restart.txt && echo ok", lease_ttl_sec: 600 });
    expect(first.status).toBe(200);
    const id = first.body.session_id;

    await r.restartConsole();

    const after = await terminal(r, { session_id: id, command: "cat ~/restart.txt" });
    expect(after.status, r.output().slice(-3000)).toBe(200);
    expect(after.body).toMatchObject({ session_id: id, created: false, stdout: "before\n", exit_code: 0 });
    expect(after.body.lease_expires_unix_ms).toBeGreaterThanOrEqual(first.body.lease_expires_unix_ms);
  });
});
