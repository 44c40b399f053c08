import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABEL_MANAGED, LABEL_NODE } from "../../src/docker/container-client.ts";
import {
  containersWith,
  ctx,
  failureOf,
  marker,
  type PythonResult,
  type Started,
  startBackend,
  type TerminalResult,
} from "./harness.ts";

let s: Started;

/** A cell in session `session`; the console's deadline is the cell's budget plus a grace, as in production. */
function cell(
  session: string,
  code: string,
  extra: Record<string, unknown> = {},
  timeoutMs = 30_000,
  emit?: (stream: "stdout" | "stderr", data: Uint8Array) => void,
) {
  return s
    .cap("pythonExec")
    .run(
      { code, session_id: session, create_if_missing: true, timeout_ms: timeoutMs, ...extra },
      ctx({ timeoutMs: timeoutMs + 5_000, emit }),
    ) as Promise<PythonResult>;
}

function term(session: string, command: string): Promise<TerminalResult> {
  return s.cap("terminalExec").run({ session_id: session, command }, ctx()) as Promise<TerminalResult>;
}

beforeAll(async () => {
  s = await startBackend();
});

afterAll(async () => {
  await s?.backend.close();
  expect(await containersWith({ [LABEL_MANAGED]: "true", [LABEL_NODE]: s.config.nodeId })).toEqual([]);
});

describe("pythonExec in a session", () => {
  it("keeps variables and imports between cells and shares /workspace with terminalExec", async () => {
    const id = marker("py");
    const first = await cell(id, "import os\nx = 41\nopen('note.txt', 'w').write('from python')\nos.getcwd()");
    expect(first).toMatchObject({ output: "'/workspace'\n", stderr: "", exit_code: 0, images: [], created: true });
    const second = await cell(id, "x + 1");
    expect(second).toMatchObject({ output: "42\n", exit_code: 0, created: false });
    expect(second.interpreter_restarted).toBeUndefined();
    expect((await term(id, "cat note.txt")).stdout).toBe("from python");
    const other = await cell(marker("py"), "print('x' in globals())");
    expect(other.output).toBe("False\n");
  });

  it("interrupts a cell at its timeout and keeps the interpreter's state", async () => {
    const id = marker("py");
    await cell(id, "kept = 'yes'");
    const started = Date.now();
    const stuck = await cell(id, "import time\nprint('before', flush=True)\nwhile True:\n    time.sleep(0.05)", {}, 1_000);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(stuck.timed_out).toBe(true);
    expect(stuck.interpreter_restarted).toBeUndefined();
    expect(stuck.output).toBe("before\n");
    expect(stuck.stderr).toContain("KeyboardInterrupt");
    expect((await cell(id, "kept")).output).toBe("'yes'\n");
  });

  it("restarts an interpreter that ignores the interrupt, and says so", async () => {
    const id = marker("py");
    await cell(id, "lost = 1");
    const stuck = await cell(
      id,
      "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.05)",
      {},
      500,
    );
    expect(stuck.timed_out).toBe(true);
    expect(stuck.interpreter_restarted).toBe(true);
    const after = await cell(id, "print('lost' in globals())");
    expect(after.output).toBe("False\n");
  });

  it("reset starts a fresh interpreter and keeps the files", async () => {
    const id = marker("py");
    await cell(id, "y = 5\nopen('keep.txt', 'w').write('k')");
    const r = await cell(id, "print('y' in globals(), open('keep.txt').read())", { reset: true });
    expect(r.output).toBe("False k\n");
  });

  it("writes files and returns figures as in a fresh run", async () => {
    const id = marker("py");
    const r = await cell(
      id,
      "import pandas as pd, matplotlib.pyplot as plt\ndf = pd.read_csv('in.csv')\ndf.plot(x='a', y='b')\nprint(int(df.b.sum()))",
      { files: [{ path: "in.csv", content: "a,b\n1,2\n2,5\n" }] },
    );
    expect(r.stderr).toBe("");
    expect(r.output).toBe("7\n");
    expect(r.images).toHaveLength(1);
    expect(
      Buffer.from(r.images[0]?.data_base64 ?? "", "base64")
        .subarray(1, 4)
        .toString(),
    ).toBe("PNG");
    // Figures were closed once sent: the next cell returns none.
    expect((await cell(id, "1")).images).toEqual([]);
  });

  it("answers session_busy while a cell runs, for pythonExec and terminalExec", async () => {
    const id = marker("py");
    await cell(id, "0");
    let running: () => void = () => {};
    const started = new Promise<void>((r) => {
      running = r;
    });
    const slow = cell(id, "import time\nprint('running', flush=True)\ntime.sleep(1.5)\n'done'", {}, 30_000, () => running());
    await started;
    expect((await failureOf(cell(id, "1")))?.code).toBe("session_busy");
    expect((await failureOf(term(id, "true")))?.code).toBe("session_busy");
    expect((await slow).output).toBe("running\n'done'\n");
  });

  it("cannot forge the kernel's frames from inside the session", async () => {
    const id = marker("py");
    // A program that writes a fake exit frame to every stdout it can reach, and to /proc/*/fd/1 of every process.
    const r = await cell(
      id,
      [
        "import os",
        "fake = bytes([3]) + (1).to_bytes(4, 'big') + b'0'",
        "hits = []",
        "for pid in os.listdir('/proc'):",
        "    if pid.isdigit():",
        "        try:",
        "            with open('/proc/%s/fd/1' % pid, 'wb') as f:",
        "                f.write(fake)",
        "            hits.append(pid)",
        "        except OSError:",
        "            pass",
        "os.write(1, fake)",
        "print('still here')",
      ].join("\n"),
    );
    expect(r.exit_code).toBe(0);
    expect(r.output).toMatch(/still here\n$/);
    expect((await cell(id, "21 * 2")).output).toBe("42\n");
  });
});

describe("pythonExec in a session, cancelled", () => {
  it("ends the interpreter on cancel, keeps the session and its files, and leaves one kernel running", async () => {
    const id = marker("py");
    await cell(id, "x = 1\nopen('f.txt', 'w').write('kept')");
    const abort = new AbortController();
    let running: () => void = () => {};
    const started = new Promise<void>((r) => {
      running = r;
    });
    const stuck = s
      .cap("pythonExec")
      .run(
        { code: "import time\nprint('go', flush=True)\ntime.sleep(60)", session_id: id, timeout_ms: 60_000 },
        ctx({ signal: abort.signal, emit: () => running() }),
      );
    await started;
    abort.abort();
    expect((await failureOf(stuck))?.code).toBe("canceled");
    const after = await cell(id, "print('x' in globals(), open('f.txt').read())");
    expect(after.output).toBe("False kept\n");
    expect(after.interpreter_restarted).toBe(true);
    // One kernel server and one interpreter remain: the cancelled ones are gone (a killed
    // process may take a moment to leave /proc on a loaded machine). The pattern's brackets
    // keep the counting grep, whose own command line holds the text, from counting itself.
    const count =
      "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | cut -c1-40; echo; done | grep -c '[p]ython3 -c import os, sys, ast' ; ls -d /tmp/.onlyboxes-kernel-* | wc -l";
    await expect.poll(async () => (await term(id, count)).stdout, { timeout: 10_000, interval: 250 }).toBe("1\n1\n");
  });
});
