import { SESSION_ID_MAX_LENGTH, TERMINAL_LEASE_LIMIT_SEC } from "@onlyboxes/proto";
import { describe, expect, it } from "vitest";
import { CommandFailure } from "../../src/capabilities/types.ts";
import { LABEL_NODE, LABEL_SESSION } from "../../src/docker/container-client.ts";
import {
  containersWith,
  eventually,
  failureOf,
  hostProcessesWith,
  marker,
  noHostProcessWith,
  type TerminalResult,
  useBackend,
} from "./harness.ts";

// A fast janitor so lease expiry is observable in a test.
const s = useBackend({ WORKER_TERMINAL_JANITOR_INTERVAL_MS: "200", WORKER_TERMINAL_LEASE_MIN_SEC: "1" });

/** A new session running `command`. */
function fresh(command: string, extra: Record<string, unknown> = {}): Promise<TerminalResult> {
  return s.terminal({ session_id: marker("sess"), create_if_missing: true, command, ...extra });
}

describe("terminalExec", () => {
  it("creates a session and answers distinct stdout, stderr and the exit code", async () => {
    const before = Date.now();
    const r = await fresh("echo hello; echo oops >&2; exit 3");
    expect(r).toMatchObject({
      created: true,
      stdout: "hello\n",
      stderr: "oops\n",
      exit_code: 3,
      stdout_truncated: false,
      stderr_truncated: false,
    });
    expect(r.lease_expires_unix_ms).toBeGreaterThanOrEqual(before + 60_000);
    expect(r.lease_expires_unix_ms).toBeLessThan(Date.now() + 61_000);
  });

  it("keeps the filesystem between commands and answers created=false", async () => {
    const first = await fresh("echo kept > note.txt && pwd");
    expect(first.stdout).toBe("/workspace\n");
    const second = await s.terminal({ session_id: first.session_id, command: "cat note.txt" });
    expect(second).toMatchObject({ session_id: first.session_id, created: false, stdout: "kept\n", exit_code: 0 });
  });

  it("runs commands with sh -lc: pipes, variables, globbing, a login PATH", async () => {
    const r = await fresh('x=abc; echo $x | tr a-z A-Z; ls /etc/pass* | wc -l; echo "$PATH"');
    expect(r.stdout).toBe("ABC\n1\n/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin\n");
  });

  it("runs commands with no signal ignored, and no second command's deadline changes that", async () => {
    // The shell server briefly ignores HUP while it starts its watchdog; commands must never inherit that.
    const first = await fresh("grep -E '^Sig(Ign|Blk)' /proc/self/status");
    expect(first.stdout).toBe("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    const again = await s.terminal({
      session_id: first.session_id,
      command: "grep -E '^SigIgn' /proc/self/status",
      timeout_ms: 5_000,
    });
    expect(again.stdout).toBe("SigIgn:\t0000000000000000\n");
  });

  it("passes commands through unchanged: quotes, backslashes, newlines, leading dashes, no trailing newline", async () => {
    const tricky = "printf '%s|' 'a b' \"c\\\\d\" '$HOME' \\\n  'x\ny'\necho\nprintf 'no newline'";
    const r = await fresh(tricky);
    expect(r.stdout).toBe("a b|c\\d|$HOME|x\ny|\nno newline");
    const dash = await fresh("-x");
    expect(dash.exit_code).toBe(127);
  });

  it("cannot be confused by output that looks like a marker", async () => {
    const r = await fresh("printf '%032d:0\\n' 0; printf '%032x\\n' 0 >&2; printf 'ab'; sleep 0.2; printf 'cd'");
    expect(r.stdout).toBe(`${"0".repeat(32)}:0\nabcd`);
    expect(r.stderr).toBe(`${"0".repeat(32)}\n`);
  });

  it("does not let a command read the next request from stdin", async () => {
    const r = await fresh("cat; echo after");
    expect(r.stdout).toBe("after\n");
    const next = await s.terminal({ session_id: r.session_id, command: "echo still-served" });
    expect(next.stdout).toBe("still-served\n");
  });

  it("answers session_not_found for an unknown id unless create_if_missing", async () => {
    const id = marker("sess");
    expect(await failureOf(s.terminal({ session_id: id, command: "true" }))).toMatchObject({ code: "session_not_found" });
    const made = await s.terminal({ session_id: id, command: "echo made", create_if_missing: true });
    expect(made).toMatchObject({ session_id: id, created: true, stdout: "made\n" });
    const again = await s.terminal({ session_id: id, command: "echo again", create_if_missing: true });
    expect(again).toMatchObject({ created: false, stdout: "again\n" });
  });

  it("answers session_busy at once for concurrent use, and serves the session afterwards", async () => {
    const id = (await fresh("true")).session_id;
    const tag = marker("slow");
    const slow = s.terminal({ session_id: id, command: `sh -c 'sleep 1' ${tag}; echo done` });
    expect(await eventually(async () => (await hostProcessesWith(tag)).length > 0, 10_000, 50)).toBe(true);
    const started = Date.now();
    expect(await failureOf(s.terminal({ session_id: id, command: "echo no" }))).toMatchObject({ code: "session_busy" });
    expect(Date.now() - started).toBeLessThan(200);
    expect((await slow).stdout).toBe("done\n");
    expect((await s.terminal({ session_id: id, command: "echo free" })).stdout).toBe("free\n");
  });

  it("answers session_busy while the session is still being created", async () => {
    const id = marker("sess");
    const a = s.terminal({ session_id: id, command: "echo a", create_if_missing: true });
    const b = failureOf(s.terminal({ session_id: id, command: "echo b", create_if_missing: true }));
    expect(await b).toMatchObject({ code: "session_busy" });
    expect((await a).stdout).toBe("a\n");
  });

  it("extends the lease monotonically and clamps it to min/max", async () => {
    const first = await fresh("true", { lease_ttl_sec: 1800 });
    expect(first.lease_expires_unix_ms).toBeGreaterThan(Date.now() + 1_790_000);
    const short = await s.terminal({ session_id: first.session_id, command: "true", lease_ttl_sec: 60 });
    expect(short.lease_expires_unix_ms).toBeGreaterThanOrEqual(first.lease_expires_unix_ms);
    const huge = await s.terminal({ session_id: first.session_id, command: "true", lease_ttl_sec: TERMINAL_LEASE_LIMIT_SEC.max });
    expect(huge.lease_expires_unix_ms).toBeLessThanOrEqual(Date.now() + 1_800_000);
  });

  it("reaps a session when its lease expires and removes its container", async () => {
    const r = await fresh("true", { lease_ttl_sec: 1 });
    expect(r.lease_expires_unix_ms).toBeLessThan(Date.now() + 1_500);
    const labels = { [LABEL_NODE]: s.config.nodeId, [LABEL_SESSION]: r.session_id };
    expect(await containersWith(labels)).toHaveLength(1);
    expect(await eventually(async () => (await containersWith(labels)).length === 0, 10_000)).toBe(true);
    expect(await failureOf(s.terminal({ session_id: r.session_id, command: "true" }))).toMatchObject({
      code: "session_not_found",
    });
  });

  it("answers the deadline, removes the container and drops the session", async () => {
    const tag = marker("term-loop");
    const id = (await fresh("echo ready")).session_id;
    const started = Date.now();
    const f = await failureOf(s.terminal({ session_id: id, command: `sh -c 'while :; do :; done' ${tag}`, timeout_ms: 1500 }));
    expect(f?.code).toBe("deadline_exceeded");
    expect(Date.now() - started).toBeLessThan(4000);
    expect(await noHostProcessWith(tag, 10_000)).toBe(true);
    expect(await containersWith({ [LABEL_SESSION]: id })).toEqual([]);
    expect(await failureOf(s.terminal({ session_id: id, command: "true" }))).toMatchObject({ code: "session_not_found" });
    const again = await s.terminal({ session_id: id, command: "ls note.txt 2>&1; echo new", create_if_missing: true });
    expect(again).toMatchObject({ created: true });
    expect(again.stdout).toContain("new\n");
  });

  it("answers a cancel with `canceled` and drops the session", async () => {
    const id = (await fresh("true")).session_id;
    const controller = new AbortController();
    const run = s.terminal({ session_id: id, command: "sleep 30" }, { signal: controller.signal });
    setTimeout(() => controller.abort(new CommandFailure("canceled", "stop")), 300);
    expect(await failureOf(run)).toMatchObject({ code: "canceled" });
    expect(await containersWith({ [LABEL_SESSION]: id })).toEqual([]);
  });

  it("caps each stream at the output limit and flags the cut, in bounded memory", async () => {
    const r = await fresh(
      "head -c 52428800 /dev/zero | tr '\\0' a; head -c 3000000 /dev/zero | tr '\\0' b >&2; echo tail-ignored",
    );
    expect(r.stdout_truncated).toBe(true);
    expect(r.stderr_truncated).toBe(true);
    expect(r.stdout.length).toBe(s.config.outputLimitBytes);
    expect(r.stdout).toMatch(/^a+$/);
    expect(r.stderr).toMatch(/^b+$/);
    expect(r.exit_code).toBe(0);
    // The session still works and the marker was found after the cut.
    expect((await s.terminal({ session_id: r.session_id, command: "echo ok" })).stdout).toBe("ok\n");
  });

  it("streams output chunks as they arrive", async () => {
    const chunks: string[] = [];
    const r = await s.shell("echo one; sleep 0.3; echo two >&2", marker("sess"), {
      emit: (stream, data) => chunks.push(`${stream}:${Buffer.from(data).toString()}`),
    });
    expect(r.stdout).toBe("one\n");
    expect(chunks).toEqual(["stdout:one\n", "stderr:two\n"]);
  });

  it("refuses bad payloads with the console's limits and messages, and creates no container", async () => {
    const id = marker("sess");
    const bad = (extra: Record<string, unknown>) =>
      failureOf(s.terminal({ session_id: id, command: "true", create_if_missing: true, ...extra }));
    expect(await failureOf(s.terminal({ command: "true" }))).toEqual({
      code: "invalid_argument",
      message: "session_id: is required",
    });
    expect(await bad({ command: 5 })).toEqual({ code: "invalid_argument", message: "command: must be a string" });
    expect(await bad({ command: "a\0b" })).toEqual({
      code: "invalid_argument",
      message: "command: must not contain NUL characters",
    });
    expect(await bad({ session_id: "s".repeat(SESSION_ID_MAX_LENGTH + 1) })).toEqual({
      code: "invalid_argument",
      message: `session_id: must be at most ${SESSION_ID_MAX_LENGTH} characters`,
    });
    expect(await bad({ session_id: "has space" })).toEqual({
      code: "invalid_argument",
      message: "session_id: must be printable ASCII without spaces",
    });
    expect(await bad({ lease_ttl_sec: 0 })).toEqual({
      code: "invalid_argument",
      message: `lease_ttl_sec: must be an integer between 1 and ${TERMINAL_LEASE_LIMIT_SEC.max}`,
    });
    expect(await bad({ timeout_ms: 600_001 })).toEqual({
      code: "invalid_argument",
      message: "timeout_ms: must be an integer between 1 and 600000",
    });
    expect(await bad({ extra: true })).toEqual({ code: "invalid_argument", message: "unknown field: extra" });
    expect(await containersWith({ [LABEL_NODE]: s.config.nodeId, [LABEL_SESSION]: id })).toEqual([]);
  });
});

describe("terminalExec without the janitor", () => {
  // A janitor that does not come by during the test: the lease is checked when the session is used.
  const lazy = useBackend({
    WORKER_TERMINAL_JANITOR_INTERVAL_MS: "600000",
    WORKER_TERMINAL_LEASE_MIN_SEC: "1",
    WORKER_PYTHON_EXEC_POOL_SIZE: "0",
  });

  it("answers session_not_found once the lease has passed and removes the container", async () => {
    const r = await lazy.terminal({ session_id: marker("sess"), create_if_missing: true, command: "true", lease_ttl_sec: 1 });
    const labels = { [LABEL_NODE]: lazy.config.nodeId, [LABEL_SESSION]: r.session_id };
    // The time under test is the lease's end: the container itself lives on for a grace after it.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, r.lease_expires_unix_ms + 50 - Date.now())));
    expect(await containersWith(labels)).toHaveLength(1);
    expect(await failureOf(lazy.terminal({ session_id: r.session_id, command: "true" }))).toMatchObject({
      code: "session_not_found",
    });
    expect(await containersWith(labels)).toHaveLength(0);
  });
});
