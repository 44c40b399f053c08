/**
 * Hostile programs against the real engine. Each one must end in a clear result and leave
 * the backend healthy: `print(1)` works right after, and no container of this node is left.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LABEL_CAPABILITY, LABEL_MANAGED, LABEL_NODE } from "../../src/docker/container-client.ts";
import {
  containersWith,
  ctx,
  eventually,
  failureOf,
  hostProcessesWith,
  marker,
  type PythonResult,
  type Started,
  startBackend,
  type TerminalResult,
} from "./harness.ts";

let s: Started;

const py = (code: string, timeoutMs = 60_000) => s.cap("pythonExec").run({ code }, ctx({ timeoutMs })) as Promise<PythonResult>;
const term = (command: string, session_id = marker("sess")) =>
  s.cap("terminalExec").run({ session_id, command, create_if_missing: true }, ctx()) as Promise<TerminalResult>;

beforeAll(async () => {
  s = await startBackend();
});

afterEach(async () => {
  expect(await py("print(1)")).toEqual({ output: "1\n", stderr: "", exit_code: 0, images: [] });
});

afterAll(async () => {
  await s?.backend.close();
  // Only this node's containers: other suites may share the engine.
  expect(await containersWith({ [LABEL_MANAGED]: "true", [LABEL_NODE]: s.config.nodeId })).toEqual([]);
});

/** pythonExec containers of this node besides the idle pool. */
async function busyPythonContainers(): Promise<number> {
  const n = (await containersWith({ [LABEL_NODE]: s.config.nodeId, [LABEL_CAPABILITY]: "pythonExec" })).length;
  return n - s.config.pythonPoolSize;
}

describe("hostile programs", () => {
  it("contains a fork bomb with the pids limit; the deadline ends it and no process is left", async () => {
    const tag = marker("forkbomb");
    const bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass";
    const code = `import os, sys\nos.execv(sys.executable, [sys.executable, "-c", ${JSON.stringify(bomb)}, ${JSON.stringify(tag)}])`;
    const f = await failureOf(py(code, 4_000));
    expect(f?.code).toBe("deadline_exceeded");
    expect(await eventually(async () => (await hostProcessesWith(tag)).length === 0, 20_000)).toBe(true);
  });

  it("stops a fork bomb at the pids limit: a process count never exceeds it", async () => {
    const code = [
      "import os, time",
      "n = 0",
      "try:",
      "    while True:",
      "        if os.fork() == 0:",
      "            time.sleep(30)",
      "            os._exit(0)",
      "        n += 1",
      "except OSError as e:",
      "    print('stopped', n < 128, e.errno)",
    ].join("\n");
    const r = await py(code, 30_000);
    expect(r.output).toMatch(/^stopped True 11\n$/);
  });

  it("kills a 2 GiB allocation with exit code 137 (OOM)", async () => {
    const r = await py("x = 'a' * (2 * 1024 ** 3)\nprint(len(x))");
    expect(r).toMatchObject({ output: "", exit_code: 137 });
  });

  it("cuts 50 MB of output, flags it, and keeps memory bounded", async () => {
    global.gc?.();
    const before = process.memoryUsage().rss;
    const r = await py(
      "import sys\nsys.stdout.write('a' * 50_000_000)\nsys.stdout.flush()\nprint('end', file=sys.stderr)",
      120_000,
    );
    const grown = process.memoryUsage().rss - before;
    expect(r.output.length).toBe(s.config.outputLimitBytes);
    expect(r.output_truncated).toBe(true);
    expect(r.stderr).toBe("end\n");
    expect(r.stderr_truncated).toBeUndefined();
    expect(r.exit_code).toBe(0);
    expect(grown).toBeLessThan(40 * 1024 * 1024);
  });

  it("answers an infinite loop at the deadline and removes its container", async () => {
    const started = Date.now();
    const f = await failureOf(py("while True: pass", 2_000));
    expect(f?.code).toBe("deadline_exceeded");
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(await eventually(async () => (await busyPythonContainers()) <= 0, 10_000)).toBe(true);
  });

  it("leaves no background process behind after a one-shot run (setsid)", async () => {
    const tag = marker("setsid");
    const code = [
      "import subprocess",
      `subprocess.Popen(["sh", "-c", "sleep 600; echo ${tag}"], start_new_session=True, stdout=subprocess.DEVNULL)`,
      "print('spawned')",
    ].join("\n");
    expect((await py(code)).output).toBe("spawned\n");
    expect(await eventually(async () => (await hostProcessesWith(tag)).length === 0, 10_000)).toBe(true);
  });

  it("keeps /tmp private to one run and the root read-only", async () => {
    const name = `/tmp/${marker("left")}`;
    const write = await py(
      `open(${JSON.stringify(name)}, 'w').write('x')\ntry:\n    open('/usr/evil', 'w')\nexcept OSError as e:\n    print('ro', e.errno)`,
    );
    expect(write.output).toBe("ro 30\n");
    expect((await py(`import os\nprint(os.path.exists(${JSON.stringify(name)}))`)).output).toBe("False\n");
  });

  it("has no network egress and no DNS", async () => {
    const code = [
      "import socket",
      "for target in [('1.1.1.1', 53), ('8.8.8.8', 443), ('172.17.0.1', 2375)]:",
      "    try:",
      "        socket.create_connection(target, timeout=3).close()",
      "        print('connected', target)",
      "    except OSError:",
      "        print('blocked')",
      "try:",
      "    socket.getaddrinfo('example.com', 80)",
      "    print('resolved')",
      "except OSError:",
      "    print('no-dns')",
      "import os",
      "print(sorted(os.listdir('/sys/class/net')))",
    ].join("\n");
    expect((await py(code, 30_000)).output).toBe("blocked\nblocked\nblocked\nno-dns\n['lo']\n");
    const t = await term(
      "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)\" 2>/dev/null && echo up || echo down",
    );
    expect(t.stdout).toBe("down\n");
  });

  it("exposes no Docker socket", async () => {
    const code =
      "import os\nprint([p for p in ['/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock'] if os.path.exists(p)])";
    expect((await py(code)).output).toBe("[]\n");
    const t = await term("ls /var/run/docker.sock /run/docker.sock 2>&1; echo rc=$?");
    expect(t.stdout).toContain("No such file");
  });

  it("runs as a non-root user without capabilities or a way to gain privileges", async () => {
    const code = [
      "import os",
      "print(os.getuid(), os.geteuid(), os.getgid())",
      "status = dict(l.split(':', 1) for l in open('/proc/self/status'))",
      "print(status['CapEff'].strip(), status['CapBnd'].strip(), status['NoNewPrivs'].strip())",
    ].join("\n");
    expect((await py(code)).output).toBe("1000 1000 1000\n0000000000000000 0000000000000000 1\n");
    const t = await term(
      "id -u; grep -E 'CapEff|NoNewPrivs' /proc/self/status; su -c true root </dev/null 2>/dev/null || echo no-su",
    );
    expect(t.stdout).toMatch(/^1000\nCapEff:\s+0+\nNoNewPrivs:\s+1\nno-su\n$/);
  });

  it("answers valid JSON for bytes that are not UTF-8 and NUL bytes", async () => {
    const r = await py("import sys\nsys.stdout.buffer.write(b'a\\xff\\xfe\\x00b\\n')\nsys.stderr.buffer.write(b'\\xc3\\x28\\n')");
    expect(r).toEqual({ output: "a\uFFFD\uFFFD\u0000b\n", stderr: "\uFFFD(\n", exit_code: 0, images: [] });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    const t = await term("printf 'x\\377\\000y\\n'");
    expect(t.stdout).toBe("x\uFFFD\u0000y\n");
  });

  it("completes 20 concurrent pythonExec runs, one container each", async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => py(`print(${i} * 2)`, 120_000)));
    for (const [i, r] of runs.entries()) expect(r).toEqual({ output: `${i * 2}\n`, stderr: "", exit_code: 0, images: [] });
    expect(await eventually(async () => (await busyPythonContainers()) <= 0, 15_000)).toBe(true);
  });

  it("survives a terminal command that tries to kill the shell server", async () => {
    const id = marker("sess");
    const r = await term("kill -9 1; kill -TERM 1; echo alive", id);
    expect(r.stdout).toBe("alive\n");
    expect((await term("echo still", id)).stdout).toBe("still\n");
  });

  it("reports an OOM inside a terminal session as exit 137 and keeps the session", async () => {
    const id = marker("sess");
    const r = await term("python3 -c \"x = 'a' * (2 * 1024 ** 3)\"", id);
    expect(r.exit_code).toBe(137);
    expect((await term("echo after", id)).stdout).toBe("after\n");
  });
});
