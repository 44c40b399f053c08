import { MAX_TEXT_CHARS } from "@onlyboxes/proto";
import { describe, expect, it } from "vitest";
import { CommandFailure } from "../../src/capabilities/types.ts";
import { LABEL_NODE } from "../../src/docker/container-client.ts";
import { escapingSleeper } from "./fixtures/hostile-programs.ts";
import { containersWith, ctx, eventually, failureOf, marker, noHostProcessWith, useBackend } from "./harness.ts";

const s = useBackend();

describe("pythonExec", () => {
  it("answers output, stderr and exit code exactly", async () => {
    const r = await s.python("import sys\nprint('hi')\nprint('warn', file=sys.stderr)\nsys.exit(4)");
    expect(r).toEqual({ output: "hi\n", stderr: "warn\n", exit_code: 4, images: [] });
  });

  it("reports an uncaught exception like python3 -c, without the bootstrap's frames", async () => {
    const r = await s.python("def f():\n    raise ValueError('boom')\nf()");
    expect(r.exit_code).toBe(1);
    expect(r.stderr).toBe(
      'Traceback (most recent call last):\n  File "<string>", line 3, in <module>\n  File "<string>", line 2, in f\nValueError: boom\n',
    );
    const syntax = await s.python("x = (");
    expect(syntax.exit_code).toBe(1);
    expect(syntax.stderr).toContain("SyntaxError");
  });

  it("runs as a fresh __main__ with the full standard library and stdin at EOF", async () => {
    const code = `import json, sqlite3, hashlib, decimal, zoneinfo, ssl, ctypes
print(__name__, sorted(k for k in globals() if not k.startswith('__')))
try:
    input()
except EOFError:
    print('eof')`;
    const r = await s.python(code);
    expect(r).toEqual({
      output: "__main__ ['ctypes', 'decimal', 'hashlib', 'json', 'sqlite3', 'ssl', 'zoneinfo']\neof\n",
      stderr: "",
      exit_code: 0,
      images: [],
    });
  });

  it("refuses an empty program with the console's message", async () => {
    expect(await failureOf(s.python(""))).toEqual({ code: "invalid_argument", message: "code: must not be blank" });
  });

  it("gives every run a fresh /tmp", async () => {
    const name = `/tmp/${marker("shared")}`;
    expect((await s.python(`open(${JSON.stringify(name)}, 'w').write('x')\nprint('written')`)).output).toBe("written\n");
    expect((await s.python(`import os\nprint(os.path.exists(${JSON.stringify(name)}))`)).output).toBe("False\n");
  });

  it("streams output chunks as they arrive when asked", async () => {
    const chunks: Array<{ stream: string; text: string; at: number }> = [];
    const started = Date.now();
    const r = await s.python("import sys, time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second', file=sys.stderr)", {
      emit: (stream, data) => chunks.push({ stream, text: Buffer.from(data).toString(), at: Date.now() - started }),
    });
    expect(r.output).toBe("first\n");
    // Unbuffered output may come in more pieces than prints (text and newline apart).
    const text = (stream: string) =>
      chunks
        .filter((c) => c.stream === stream)
        .map((c) => c.text)
        .join("");
    expect([text("stdout"), text("stderr")]).toEqual(["first\n", "second\n"]);
    const firstErr = chunks.findIndex((c) => c.stream === "stderr");
    expect(chunks.slice(firstErr).every((c) => c.stream === "stderr")).toBe(true);
    // The first chunk arrived before the sleep ended.
    expect((chunks[firstErr]?.at ?? 0) - (chunks[0]?.at ?? 0)).toBeGreaterThan(700);
  });

  it("refuses bad payloads with the console's limits and messages", async () => {
    const run = (payload: unknown) => failureOf(s.cap("pythonExec").run(payload, ctx()));
    expect(await run({ nope: 1 })).toEqual({ code: "invalid_argument", message: "code: is required" });
    expect(await run("print(1)")).toMatchObject({ code: "invalid_argument" });
    expect(await run({ code: "print(1)", timeout_ms: 600_001 })).toEqual({
      code: "invalid_argument",
      message: "timeout_ms: must be an integer between 1 and 600000",
    });
    expect(await run({ code: "x".repeat(MAX_TEXT_CHARS + 1) })).toEqual({
      code: "invalid_argument",
      message: `code: must be at most ${MAX_TEXT_CHARS} characters`,
    });
  });

  it("answers the deadline at the deadline and removes the container", async () => {
    const tag = marker("py-loop");
    const started = Date.now();
    const f = await failureOf(
      s.python(`import sys\nsys.argv.append(${JSON.stringify(tag)})\nwhile True: pass`, {}, { timeout_ms: 1500 }),
    );
    const elapsed = Date.now() - started;
    expect(f?.code).toBe("deadline_exceeded");
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(4000);
    expect((await s.python("print(1)")).output).toBe("1\n");
  });

  it("answers a cancel with `canceled` and removes the container", async () => {
    const controller = new AbortController();
    const run = s.python("import time\ntime.sleep(60)", { signal: controller.signal });
    setTimeout(() => controller.abort(new CommandFailure("canceled", "stop")), 500);
    expect(await failureOf(run)).toMatchObject({ code: "canceled" });
    expect(
      await eventually(
        async () =>
          (await containersWith({ [LABEL_NODE]: s.config.nodeId, "dev.onlyboxes.capability": "pythonExec" })).length <=
          s.config.pythonPoolSize,
        10_000,
      ),
    ).toBe(true);
  });

  it("keeps a warm pool and never hands one container to two runs", async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => s.python("import socket\nprint(socket.gethostname())")));
    const hosts = ids.map((r) => r.output.trim());
    expect(new Set(hosts).size).toBe(6);
  });

  it("leaves no background process behind (setsid does not escape)", async () => {
    const tag = marker("bg-sleeper");
    expect((await s.python(escapingSleeper(tag))).output).toBe("spawned\n");
    expect(await noHostProcessWith(tag, 10_000)).toBe(true);
  });
});
