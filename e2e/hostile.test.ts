/**
 * Hostile programs against the real console, worker and containers. After each one the
 * sandbox must still answer `print(1)`, and when the suite ends no managed container is left.
 */
import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import {
  ENGINE_SOCKET_PROBE,
  NETWORK_PROBE,
  NETWORK_PROBE_BLOCKED,
} from "../worker-docker/test/docker/fixtures/hostile-programs.ts";
import {
  eventually,
  expectPythonHealthy,
  hostProcessesWith,
  marker,
  python,
  resultOf,
  task,
  terminal,
  useConsole,
} from "./harness.ts";

const c = useConsole();

afterEach(async () => {
  await expectPythonHealthy(c);
}, 60_000);

describe("hostile programs", () => {
  it("contains a fork bomb (pids limit) and leaves no process behind", async () => {
    const tag = marker("forkbomb");
    const bomb = ["import os", "while True:", "    try:", "        os.fork()", "    except OSError:", "        pass"].join("\n");
    const code = `import os, sys\nos.execv(sys.executable, [sys.executable, "-c", ${JSON.stringify(bomb)}, ${JSON.stringify(tag)}])`;
    const res = await python(c, code, 5_000);
    // The bomb never ends by itself: the deadline ends it.
    expect([200, 504]).toContain(res.status);
    expect(await eventually(async () => (await hostProcessesWith(tag)).length === 0, 20_000)).toBe(true);
  });

  it("kills a 2 GiB allocation with exit code 137", async () => {
    const res = await python(c, "x = 'a' * (2 * 1024 ** 3)\nprint(len(x))");
    expect(res.status).toBe(200);
    expect(resultOf(res.body).exit_code).toBe(137);
    expect(resultOf(res.body).output).toBe("");
  });

  it("cuts 50 MB of output instead of shipping it (pythonExec)", async () => {
    const res = await python(c, "import sys\nsys.stdout.write('a' * 50_000_000)\nprint('end', file=sys.stderr)", 120_000);
    expect(res.status).toBe(200);
    const r = resultOf(res.body);
    expect(r.output.length).toBeGreaterThan(0);
    expect(r.output.length).toBeLessThanOrEqual(1024 * 1024);
  });

  it("cuts 50 MB of output and flags it (terminalExec)", async () => {
    const res = await terminal(c, { command: "head -c 52428800 /dev/zero | tr '\\0' z", timeout_ms: 120_000 });
    expect(res.status).toBe(200);
    expect(res.body.stdout_truncated).toBe(true);
    expect(res.body.stderr_truncated).toBe(false);
    expect(res.body.stdout.length).toBeLessThanOrEqual(1024 * 1024);
  });

  it("has no network and no DNS", async () => {
    const res = await python(c, NETWORK_PROBE, 30_000);
    expect(res.status).toBe(200);
    expect(resultOf(res.body).output).toBe(NETWORK_PROBE_BLOCKED);

    const term = await terminal(c, {
      command:
        "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)\" 2>/dev/null && echo up || echo down",
    });
    expect(term.status).toBe(200);
    expect(term.body.stdout).toBe("down\n");
  });

  it("exposes no Docker socket", async () => {
    const res = await python(c, ENGINE_SOCKET_PROBE);
    expect(resultOf(res.body).output).toBe("[]\n");
    const term = await terminal(c, { command: "ls -la /var/run/docker.sock /run/docker.sock 2>&1; echo rc=$?" });
    expect(term.body.stdout).toContain("No such file");
  });

  it("does not run as root and cannot gain privileges", async () => {
    const res = await python(c, "import os\nprint(os.getuid(), os.geteuid())");
    const [uid, euid] = resultOf(res.body).output.trim().split(" ");
    expect(uid).not.toBe("0");
    expect(euid).not.toBe("0");
    const term = await terminal(c, { command: "id -u; grep NoNewPrivs /proc/self/status" });
    expect(term.body.stdout.split("\n")[0]).not.toBe("0");
    expect(term.body.stdout).toMatch(/NoNewPrivs:\s+1/);
  });

  it("answers valid JSON for output that is not UTF-8 or holds NUL bytes", async () => {
    const code = "import sys\nsys.stdout.buffer.write(b'a\\xff\\xfe\\x00b\\n')\nsys.stderr.buffer.write(b'\\xc3\\x28\\n')";
    const res = await python(c, code);
    expect(res.status).toBe(200);
    const r = resultOf(res.body);
    expect(r.exit_code).toBe(0);
    expect(r.output.startsWith("a")).toBe(true);
    expect(r.output.endsWith("b\n")).toBe(true);
    expect(typeof r.stderr).toBe("string");
  });

  it("reads a symlink to /etc/passwd as the container's file, never the host's (terminalResource)", async () => {
    const made = await terminal(c, { command: 'ln -s /etc/passwd "$HOME/passwd-link" && printf %s "$HOME"' });
    expect(made.status).toBe(200);
    const home = made.body.stdout;
    const cat = await terminal(c, { session_id: made.body.session_id, command: "cat /etc/passwd" });
    const containerPasswd = cat.body.stdout;
    const res = await task(c, "terminalResource", {
      session_id: made.body.session_id,
      file_path: `${home}/passwd-link`,
      action: "read",
    });
    expect(res.status).toBe(200);
    const result = res.body.result as { blob?: string; size_bytes?: number; mime_type?: string };
    expect(typeof result.blob).toBe("string");
    const content = Buffer.from(result.blob ?? "", "base64").toString("utf8");
    expect(content).toBe(containerPasswd);
    expect(result.size_bytes).toBe(Buffer.byteLength(containerPasswd));
    const hostPasswd = await readFile("/etc/passwd", "utf8");
    if (hostPasswd !== containerPasswd) expect(content).not.toBe(hostPasswd);
  });

  it("answers file_not_found, path_is_directory and session_not_found for resources", async () => {
    const made = await terminal(c, { command: "mkdir -p /tmp/d && echo ok" });
    const id = made.body.session_id;
    const codeOf = (body: { error?: unknown }) => (body.error as { code?: string } | undefined)?.code;

    const missing = await task(c, "terminalResource", { session_id: id, file_path: "/tmp/nope", action: "validate" });
    expect(missing.body.status).toBe("failed");
    expect(codeOf(missing.body)).toBe("file_not_found");

    const dir = await task(c, "terminalResource", { session_id: id, file_path: "/tmp/d", action: "validate" });
    expect(codeOf(dir.body)).toBe("path_is_directory");

    const unknown = await task(c, "terminalResource", { session_id: marker("nobody"), file_path: "/etc/passwd", action: "read" });
    expect(codeOf(unknown.body)).toBe("session_not_found");

    // A failed read leaves the session usable.
    const after = await terminal(c, { session_id: id, command: "echo still" });
    expect(after.status).toBe(200);
    expect(after.body.stdout).toBe("still\n");
  });
});

describe("a result at the largest output limit", () => {
  const big = useConsole({ env: { WORKER_TERMINAL_OUTPUT_LIMIT_BYTES: "2560k" } });
  const LIMIT = 2560 * 1024;

  it("arrives whole (both streams of control bytes, 12 x the limit in JSON) and the worker stays connected", async () => {
    // NUL bytes: each costs 6 characters escaped, the most any byte costs in JSON.
    const res = await terminal(big, {
      command: `head -c ${LIMIT + 10} /dev/zero; head -c ${LIMIT + 10} /dev/zero >&2`,
      timeout_ms: 120_000,
    });
    expect(res.status).toBe(200);
    expect(res.body.stdout).toBe("\u0000".repeat(LIMIT));
    expect(res.body.stderr).toBe("\u0000".repeat(LIMIT));
    expect(res.body.stdout_truncated).toBe(true);
    expect(res.body.stderr_truncated).toBe(true);
    // The same session answers again: the connection to the worker was not closed (1009).
    const after = await terminal(big, { session_id: res.body.session_id, command: "echo still" });
    expect(after.status).toBe(200);
    expect(after.body.stdout).toBe("still\n");
  }, 180_000);
});
