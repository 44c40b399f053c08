/**
 * pythonExec through the tasks API of the real console, its Docker worker and real
 * containers: results, isolation between runs, deadlines and concurrency.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventually,
  expectPythonHealthy,
  hostProcessesWith,
  marker,
  python,
  resultOf,
  type StartedConsole,
  startConsole,
  stopAndListLeftovers,
} from "./harness.ts";

let c: StartedConsole;

beforeAll(async () => {
  c = await startConsole();
}, 180_000);

afterAll(async () => {
  expect(await stopAndListLeftovers(c)).toEqual([]);
}, 90_000);

/** Python that re-executes itself with `tag` in its argv, so the host's `ps` can find it (and its children). */
function tagged(tag: string, code: string): string {
  return [
    "import os, sys",
    `os.execv(sys.executable, [sys.executable, "-c", ${JSON.stringify(code)}, ${JSON.stringify(tag)}])`,
  ].join("\n");
}

describe("pythonExec via POST /api/v1/tasks", () => {
  it("answers output, stderr and exit code", async () => {
    const res = await python(c, "import sys\nprint('hi')\nprint('warn', file=sys.stderr)\nsys.exit(4)");
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("succeeded");
    expect(resultOf(res.body)).toEqual({ output: "hi\n", stderr: "warn\n", exit_code: 4, images: [] });
  });

  it("reports an uncaught exception as a normal result with a traceback", async () => {
    const res = await python(c, "raise ValueError('boom')");
    expect(res.status).toBe(200);
    const r = resultOf(res.body);
    expect(r.exit_code).toBe(1);
    expect(r.stderr).toContain("ValueError: boom");
  });

  it("has the full standard library", async () => {
    const res = await python(c, "import json, sqlite3, hashlib, decimal\nprint(json.dumps({'a': 1}))");
    expect(res.status).toBe(200);
    expect(resultOf(res.body).output).toBe('{"a": 1}\n');
  });

  it("gives every run a fresh /tmp", async () => {
    const name = `/tmp/${marker("shared")}`;
    const write = await python(c, `open(${JSON.stringify(name)}, 'w').write('x')\nprint('written')`);
    expect(resultOf(write.body).output).toBe("written\n");
    const read = await python(c, `import os\nprint(os.path.exists(${JSON.stringify(name)}))`);
    expect(read.status).toBe(200);
    expect(resultOf(read.body).output).toBe("False\n");
  });

  it("leaves no background process behind after a run (setsid does not escape)", async () => {
    const tag = marker("bg-sleeper");
    const code = [
      "import subprocess, sys",
      `subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", ${JSON.stringify(tag)}], start_new_session=True)`,
      "print('spawned')",
    ].join("\n");
    const res = await python(c, code);
    expect(res.status).toBe(200);
    expect(resultOf(res.body).output).toBe("spawned\n");
    expect(await eventually(async () => (await hostProcessesWith(tag)).length === 0, 10_000)).toBe(true);
    await expectPythonHealthy(c);
  });

  it("answers an infinite loop at its deadline with 504 and stops the container", async () => {
    const tag = marker("py-loop");
    const res = await python(c, tagged(tag, "while True: pass"), 3_000);
    expect(res.status).toBe(504);
    expect(res.body.status).toBe("timeout");
    expect(res.elapsedMs).toBeGreaterThanOrEqual(2_900);
    expect(res.elapsedMs).toBeLessThan(7_000);
    expect(await eventually(async () => (await hostProcessesWith(tag)).length === 0, 10_000)).toBe(true);
    await expectPythonHealthy(c);
  });

  it("runs 20 concurrent requests: each completes or is refused cleanly with 429", async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => python(c, `print(${i} * 2)`, 60_000)));
    let completed = 0;
    runs.forEach((res, i) => {
      if (res.status === 429) {
        expect(typeof res.body.error === "string" || typeof res.body.error === "object").toBe(true);
        return;
      }
      expect(res.status).toBe(200);
      expect(resultOf(res.body)).toEqual({ output: `${i * 2}\n`, stderr: "", exit_code: 0, images: [] });
      completed++;
    });
    expect(completed).toBeGreaterThan(0);
    await expectPythonHealthy(c);
  });

  it("refuses bad input with 400", async () => {
    const noCode = await python(c, "print(1)", 0);
    expect(noCode.status).toBe(400);
    expect(typeof noCode.body.error).toBe("string");
  });
});
