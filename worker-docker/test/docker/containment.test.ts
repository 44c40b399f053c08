/**
 * Containment against programs written to do harm: they cannot reach PID 1 (forged frames),
 * cannot fill the host's disk, and cannot outlive their worker. Real engine, real images.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { LABEL_NODE, LABEL_SESSION } from "../../src/docker/container-client.ts";
import { ContainerTracker } from "../../src/docker/container-tracker.ts";
import { DockerContainerClient } from "../../src/docker/docker-container-client.ts";
import { SANDBOX_GRACE_MS, terminalSpec } from "../../src/docker/sandbox-spec.ts";
import { ShellSession } from "../../src/docker/shell-session.ts";
import type { DockerConfig } from "../../src/docker-config.ts";
import { containersWith, eventually, hostProcessesWith, marker, testConfig, testLog, useBackend } from "./harness.ts";

const execFileAsync = promisify(execFile);
const MIB = 1024 * 1024;
const DISK = 64 * MIB;
const TMP = 16 * MIB;

const s = useBackend({
  WORKER_SANDBOX_DISK: "64m",
  WORKER_SANDBOX_TMPFS_SIZE: "16m",
  WORKER_SANDBOX_NOFILE: "256",
  WORKER_PYTHON_EXEC_POOL_SIZE: "1",
});

/** Tries every way to PID 1's descriptors and memory; prints what happened to each. */
const FORGER = [
  "import os, signal",
  "def attempt(name, fn):",
  "    try:",
  "        fn()",
  "        print(name, 'OPEN', flush=True)",
  "    except OSError as e:",
  "        print(name, e.errno, flush=True)",
  // A forged exit frame claiming 4 GiB, then one with a made-up result.
  "forged = b'\\x03\\xff\\xff\\xff\\xff' + b'\\x01\\x00\\x00\\x00\\x06forged\\x03\\x00\\x00\\x00\\x0142'",
  "attempt('fd1', lambda: os.write(os.open('/proc/1/fd/1', os.O_WRONLY), forged))",
  "attempt('fd0', lambda: os.open('/proc/1/fd/0', os.O_RDONLY))",
  "attempt('fdlist', lambda: os.listdir('/proc/1/fd'))",
  "attempt('mem', lambda: os.open('/proc/1/mem', os.O_RDWR))",
  "attempt('environ', lambda: open('/proc/1/environ', 'rb').read())",
  "os.kill(1, signal.SIGINT)",
  "os.kill(1, signal.SIGTERM)",
  // The same bytes on its own stdout are only data: the bootstrap frames them.
  "import sys",
  "sys.stdout.buffer.write(forged * 30_000)",
  "sys.stdout.flush()",
  "print('', 'mine')",
].join("\n");

async function rssMiB(): Promise<number> {
  global.gc?.();
  return Math.round(process.memoryUsage().rss / MIB);
}

describe("forged frames", () => {
  it("keeps a pythonExec program away from PID 1: the result is the program's own, worker memory flat", async () => {
    const before = await rssMiB();
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await s.python(FORGER));
    const after = await rssMiB();
    console.log(`worker RSS around 3 forger runs: ${before} MiB -> ${after} MiB`);
    for (const r of runs) {
      expect(r.exit_code).toBe(0);
      expect(r.output.split("\n").slice(0, 5)).toEqual(["fd1 13", "fd0 13", "fdlist 13", "mem 13", "environ 13"]);
      expect(r.output.endsWith(" mine\n")).toBe(true);
      expect(r.output).toContain("forged\u0003\u0000\u0000\u0000\u000142");
    }
    // The output cap (1 MiB per stream) plus noise; the 4 GiB claim costs nothing.
    expect(after - before).toBeLessThan(40);
  });

  it("keeps a terminal command away from PID 1: no fds, no memory, no next request", async () => {
    const id = marker("sess");
    const r = await s.shell(
      [
        "ls /proc/1/fd >/dev/null 2>&1 || echo fdlist-denied",
        "cat /proc/1/mem >/dev/null 2>&1 || echo mem-denied",
        "(echo forged > /proc/1/fd/1) 2>/dev/null || echo fd1-denied",
        "(cat /proc/1/fd/0) 2>/dev/null || echo fd0-denied",
        "for p in /proc/[0-9]*; do cat $p/fd/3 2>/dev/null; done; echo no-stdin-copy",
      ].join("\n"),
      id,
    );
    expect(r.stdout).toBe("fdlist-denied\nmem-denied\nfd1-denied\nfd0-denied\nno-stdin-copy\n");
    expect((await s.shell("echo still", id)).stdout).toBe("still\n");
  });
});

describe("disk", () => {
  it("answers ENOSPC past WORKER_SANDBOX_DISK, keeps the session usable and the host disk untouched", async () => {
    const id = marker("sess");
    const fill = await s.shell("head -c 200000000 /dev/zero > /workspace/fill.bin; echo rc=$?; wc -c < /workspace/fill.bin", id);
    expect(fill.stderr).toContain("No space left on device");
    const written = Number(fill.stdout.split("\n")[1]);
    console.log(`disk filler wrote ${written} bytes into a ${DISK}-byte /workspace`);
    expect(fill.stdout.startsWith("rc=1\n")).toBe(true);
    expect(written).toBeLessThanOrEqual(DISK);
    expect(written).toBeGreaterThan(DISK - 2 * MIB);
    // The files live in the tmpfs: the container's writable layer on the host stays empty.
    const [container] = await containersWith({ [LABEL_SESSION]: id });
    const { stdout } = await execFileAsync("docker", ["inspect", "--size", "--format", "{{.SizeRw}}", String(container)]);
    expect(Number(stdout.trim())).toBeLessThan(MIB);
    // The session goes on: a file can be removed and written again.
    const again = await s.shell(
      "rm /workspace/fill.bin && head -c 1000000 /dev/zero > /workspace/ok.bin && wc -c < /workspace/ok.bin",
      id,
    );
    expect(again).toMatchObject({ exit_code: 0, stdout: "1000000\n" });
  });

  it("bounds /tmp, the root, file size and open files in pythonExec too", async () => {
    const code = [
      "import errno, resource",
      "def fill(path):",
      "    try:",
      "        with open(path, 'wb') as f:",
      "            while True:",
      "                f.write(b'x' * 1_000_000)",
      "    except OSError as e:",
      "        return errno.errorcode[e.errno]",
      "print(fill('/tmp/fill'), fill('/usr/fill'))",
      "print(resource.getrlimit(resource.RLIMIT_FSIZE)[0], resource.getrlimit(resource.RLIMIT_NOFILE)[0])",
    ].join("\n");
    const r = await s.python(code);
    expect(r.output).toBe(`ENOSPC EROFS\n${DISK + TMP} 256\n`);
    // A file above fsize (all writable space together) gets EFBIG (Python ignores SIGXFSZ).
    const t = await s.shell(
      `python3 -c "import os; f = os.open('/workspace/big', os.O_WRONLY | os.O_CREAT); os.lseek(f, ${DISK + TMP}, 0); os.write(f, b'x')" 2>&1 | tail -1`,
    );
    expect(t.stdout).toContain("[Errno 27] File too large");
  });
});

/** A worker's Docker side in its own process, running one thing. */
interface Runner {
  child: ChildProcess;
  nodeId: string;
  lines: string[];
}

const RUNNER = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "sandbox-runner.ts");

async function startRunner(mode: "python" | "terminal", text: string, runMs: number, env: Record<string, string> = {}) {
  const nodeId = marker("orphan-node");
  const child = spawn(process.execPath, ["--import", "tsx", RUNNER, mode], {
    env: {
      ...process.env,
      WORKER_ID: nodeId,
      WORKER_PYTHON_EXEC_POOL_SIZE: "0",
      WORKER_TERMINAL_JANITOR_INTERVAL_MS: "600000",
      RUN_MS: String(runMs),
      RUN_TEXT: text,
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const runner: Runner = { child, nodeId, lines: [] };
  if (child.stdout) createInterface({ input: child.stdout }).on("line", (l) => runner.lines.push(l));
  return runner;
}

async function nodeContainers(r: Runner): Promise<string[]> {
  return containersWith({ [LABEL_NODE]: r.nodeId });
}

/** Kills the runner with `signal`; answers how long its containers and tagged processes lived on. */
async function outlives(r: Runner, signal: NodeJS.Signals, tag: string, limitMs: number): Promise<number> {
  const t0 = Date.now();
  r.child.kill(signal);
  const gone = await eventually(
    async () => (await nodeContainers(r)).length === 0 && (await hostProcessesWith(tag)).length === 0,
    limitMs,
    100,
  );
  const lived = Date.now() - t0;
  r.child.kill("SIGKILL");
  expect(gone, `containers of ${r.nodeId} still there ${limitMs} ms after ${signal}`).toBe(true);
  return lived;
}

/**
 * Runs `use` on a session container of its own, with no backend and so no janitor (a test
 * detaches it to see what the shell server does alone); removes what is left afterwards.
 */
async function withShellSession(
  config: DockerConfig,
  use: (session: ShellSession, sessionId: string) => Promise<void>,
  watchdogNapSec?: number,
): Promise<void> {
  const client = new DockerContainerClient(config.endpoint, testLog);
  const tracker = new ContainerTracker(client, testLog);
  const sessionId = marker("sess");
  try {
    const spec = terminalSpec(config, sessionId, watchdogNapSec);
    await use(await ShellSession.open(client, tracker, spec, sessionId, testLog), sessionId);
  } finally {
    await tracker.removeAll();
  }
}

/** Waits (up to 20 s) until the session's container is gone; answers how long after `t0` it went. */
async function lifeAfter(sessionId: string, t0: number, what: string): Promise<number> {
  const gone = await eventually(async () => (await containersWith({ [LABEL_SESSION]: sessionId })).length === 0, 20_000);
  const lived = Date.now() - t0;
  expect(gone, `session container still there ${lived} ms after ${what}`).toBe(true);
  return lived;
}

describe("orphans", () => {
  const RUN_MS = 6_000;
  // The engine needs a moment to stop and remove a container; the machine is shared.
  const SLACK_MS = 4_000;

  it.each([
    ["python", "SIGKILL"],
    ["python", "SIGSTOP"],
    ["terminal", "SIGKILL"],
    ["terminal", "SIGSTOP"],
  ] as const)("%s: a busy loop ends by its deadline + grace after %s of its worker", async (mode, signal) => {
    const tag = marker("orphan");
    const text =
      mode === "python"
        ? `import os, sys\nos.execv(sys.executable, [sys.executable, "-c", "while True: pass", ${JSON.stringify(tag)}])`
        : `sh -c 'while :; do :; done' ${tag}`;
    const r = await startRunner(mode, text, RUN_MS);
    const started = Date.now();
    expect(await eventually(async () => (await hostProcessesWith(tag)).length > 0, 60_000)).toBe(true);
    // SIGSTOP freezes the worker with its connections open: only the sandbox's own
    // deadline can end the run. SIGKILL closes them: a python run notices at once; a
    // terminal session keeps its stdin open for the worker's next start, so its own
    // deadline ends the command (and its lease the session).
    const lived = await outlives(r, signal, tag, RUN_MS + SANDBOX_GRACE_MS + SLACK_MS);
    console.log(
      `${mode} busy loop after ${signal} of its worker: gone ${lived} ms later (${Date.now() - started} ms after start)`,
    );
    if (signal === "SIGKILL" && mode === "python") expect(lived).toBeLessThan(SLACK_MS);
  });

  it.each(["SIGKILL", "SIGSTOP"] as const)(
    "terminal: an idle session ends by its lease + grace after %s of its worker",
    async (signal) => {
      const r = await startRunner("terminal", "echo idle", RUN_MS, {
        WORKER_TERMINAL_LEASE_MIN_SEC: "1",
        WORKER_TERMINAL_LEASE_DEFAULT_SEC: "1",
      });
      expect(await eventually(async () => r.lines.some((l) => l.startsWith("done")), 60_000)).toBe(true);
      expect(r.lines.find((l) => l.startsWith("done"))).toContain('"stdout":"idle\\n"');
      expect((await nodeContainers(r)).length).toBe(1);
      const lived = await outlives(r, signal, "no-such-process-tag", 1_000 + SANDBOX_GRACE_MS + SLACK_MS);
      console.log(`idle session after ${signal} of its worker: gone ${lived} ms later`);
    },
  );

  it("terminal: a detached session lives to the latest deadline its shell server was given, then ends", async () => {
    // A booting container ends itself ~4 s after start; the command's limit (1 s) comes
    // earlier than that and its lease (8 s after it) later. The watchdog, armed for the
    // limit, must read the lease when it wakes and sleep on until the lease ends.
    const config = testConfig({ WORKER_TERMINAL_LEASE_MIN_SEC: "1", WORKER_TERMINAL_LEASE_MAX_SEC: "1" });
    await withShellSession(config, async (session, sessionId) => {
      const t0 = Date.now();
      expect(await session.run("true", { limitSec: 1, leaseSec: 8 }, () => {})).toBe(0);
      session.detach();
      expect(await containersWith({ [LABEL_SESSION]: sessionId })).toHaveLength(1);
      const lived = await lifeAfter(sessionId, t0, "its command");
      // The lease ends 8–9 s after the command (whole seconds of uptime, rounded up).
      expect(lived).toBeGreaterThanOrEqual(7_500);
      console.log(`detached session with an 8 s lease: gone ${lived} ms after its command`);
    });
  });

  it("terminal: a command that kills its session's watchdog gets a new one with the next command", async () => {
    await withShellSession(testConfig(), async (session, sessionId) => {
      // Every process the command may signal but its own shell: the watchdog and its sleep.
      expect(await session.run("kill -KILL -1", { limitSec: 60, leaseSec: 600 }, () => {})).toBe(0);
      const t0 = Date.now();
      expect(await session.run("true", { limitSec: 1, leaseSec: 2 }, () => {})).toBe(0);
      session.detach();
      expect(await lifeAfter(sessionId, t0, "its command")).toBeGreaterThanOrEqual(1_500);
    });
  });

  it("terminal: a command whose limit is a watchdog nap or more ends at its limit after its worker detaches", async () => {
    // Nothing wakes the watchdog for such a command: it is sure to wake within a nap and
    // then sleeps on to the limit, not to the 10 min deadline it read before.
    const tag = marker("napping");
    await withShellSession(
      testConfig(),
      async (session, sessionId) => {
        // First a command with a long limit and lease: whatever the watchdog read last is far off.
        expect(await session.run("true", { limitSec: 600, leaseSec: 600 }, () => {})).toBe(0);
        const t0 = Date.now();
        const running = session.run(`sh -c 'sleep 60' ${tag}`, { limitSec: 4, leaseSec: 600 }, () => {});
        running.catch(() => {});
        expect(await eventually(async () => (await hostProcessesWith(tag)).length > 0, 10_000)).toBe(true);
        session.detach();
        const lived = await lifeAfter(sessionId, t0, "its command started");
        expect(lived).toBeGreaterThanOrEqual(3_500);
        console.log(`command with a 4 s limit, 3 s naps, worker detached: gone ${lived} ms after it started`);
      },
      3,
    );
  });
});
