/**
 * pythonExec in and out, and stateful Python, end to end: the real self-hosted console, its
 * Docker worker and real containers, through REST (the tasks API) and through the
 * official MCP SDK client.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createAccountToken,
  eventually,
  hostProcessesWith,
  marker,
  type PythonResult,
  resultOf,
  type StartedConsole,
  startConsole,
  stopAndListLeftovers,
  type TaskBody,
  task,
  terminal,
} from "./harness.ts";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let c: StartedConsole;
let client: Client;

beforeAll(async () => {
  c = await startConsole({
    capabilities: ["echo", "pythonExec", "terminalExec", "terminalResource"],
    env: { CONSOLE_ENABLE_REGISTRATION: "true" },
  });
  client = new Client({ name: "onlyboxes-e2e", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${c.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${c.token}` } },
    }),
  );
}, 240_000);

afterAll(async () => {
  await client?.close();
  expect(await stopAndListLeftovers(c)).toEqual([]);
}, 90_000);

/** pythonExec through `POST /api/v1/tasks` (sync). */
function py(input: Record<string, unknown>, timeoutMs?: number, who: { url: string; token: string } = c) {
  return task(who, "pythonExec", input, timeoutMs !== undefined ? { timeout_ms: timeoutMs } : {});
}

function codeOf(body: TaskBody): string | undefined {
  return body.code ?? (typeof body.error === "object" ? body.error.code : undefined);
}

function expectPng(data: string): Buffer {
  const png = Buffer.from(data, "base64");
  expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  // A default 640x480 line chart is a few tens of KiB; an empty or broken one is far smaller.
  expect(png.length).toBeGreaterThan(5_000);
  expect(png.length).toBeLessThan(1024 * 1024);
  return png;
}

const CHART = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [2, 4, 1])\nplt.title('e2e')\nprint('drawn')";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function call(args: Record<string, unknown>): Promise<CallToolResult> {
  return client.callTool({ name: "pythonExec", arguments: args }, undefined, { timeout: 120_000 }) as Promise<CallToolResult>;
}

describe("pythonExec files and figures", () => {
  it("returns a matplotlib chart as a PNG in the REST result", async () => {
    const res = await py({ code: CHART });
    expect(res.status).toBe(200);
    const r = resultOf(res.body);
    expect(r.output).toBe("drawn\n");
    expect(r.images).toHaveLength(1);
    expect(r.images[0]?.mime_type).toBe("image/png");
    expectPng(r.images[0]?.data_base64 ?? "");
  });

  it("returns the chart as an image content block after the text through the MCP SDK client", async () => {
    const r = await call({ code: CHART });
    expect(r.isError).toBeFalsy();
    expect(r.content.map((b) => b.type)).toEqual(["text", "image"]);
    const image = r.content[1];
    if (image?.type !== "image") throw new Error("no image block");
    expect(image.mimeType).toBe("image/png");
    expectPng(image.data);
    const text = JSON.parse(r.content[0]?.type === "text" ? r.content[0].text : "{}") as PythonResult;
    expect(text.output).toBe("drawn\n");
  });

  it("writes the given files before the code runs, and refuses a path that escapes", async () => {
    const res = await py({
      code: "import pandas as pd\ndf = pd.read_csv('data/in.csv')\nprint(int(df['v'].sum()), open('raw.bin', 'rb').read())",
      files: [
        { path: "data/in.csv", content: "k,v\na,1\nb,2\nc,39\n" },
        { path: "raw.bin", content_base64: Buffer.from([0, 255]).toString("base64") },
      ],
    });
    expect(res.status).toBe(200);
    expect(resultOf(res.body)).toEqual({ output: "42 b'\\x00\\xff'\n", stderr: "", exit_code: 0, images: [] });
    const bad = await py({ code: "print(1)", files: [{ path: "../../etc/passwd", content: "x" }] });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("files.0.path");
    expect(codeOf(bad.body)).toBe("invalid_argument");
  });
});

describe("stateful pythonExec", () => {
  it("keeps state across calls in one session via REST, and not between sessions or accounts", async () => {
    const id = marker("pys");
    const first = await py({ code: "secret = 41", session_id: id, create_if_missing: true });
    expect(first.status).toBe(200);
    expect(resultOf(first.body)).toMatchObject({ session_id: id, created: true, exit_code: 0 });
    const second = await py({ code: "secret + 1", session_id: id });
    expect(resultOf(second.body)).toMatchObject({ output: "42\n", created: false });
    // The working directory is the session's: terminalExec sees what Python wrote.
    await py({ code: "open('from-python.txt', 'w').write('hello')", session_id: id });
    expect((await terminal(c, { session_id: id, command: "cat from-python.txt" })).body.stdout).toBe("hello");

    const other = await py({ code: "print('secret' in globals())", session_id: marker("pys"), create_if_missing: true });
    expect(resultOf(other.body).output).toBe("False\n");

    const stranger = { url: c.url, token: await createAccountToken(c, marker("pyacct")) };
    const missing = await py({ code: "secret", session_id: id }, undefined, stranger);
    // A failed task answers 502 (the task contract); the code says why.
    expect(missing.status).toBe(502);
    expect(codeOf(missing.body)).toBe("session_not_found");
    const own = await py({ code: "print('secret' in globals())", session_id: id, create_if_missing: true }, undefined, stranger);
    expect(resultOf(own.body)).toMatchObject({ output: "False\n", created: true });
  });

  it("keeps state across calls in one session through the MCP SDK client", async () => {
    const id = marker("pym");
    const first = await call({ code: "import math\nr = 2", session_id: id, create_if_missing: true });
    expect(first.isError).toBeFalsy();
    const second = await call({ code: "round(math.pi * r ** 2, 3)", session_id: id });
    expect(second.structuredContent).toMatchObject({ output: "12.566\n", exit_code: 0, session_id: id, created: false });
    // A chart saved in the session is what readImage reads back.
    const saved = await call({
      code: "import matplotlib.pyplot as plt\nplt.plot([r, r * 2])\nplt.savefig('chart.png')\nplt.close('all')",
      session_id: id,
    });
    expect(saved.structuredContent).toMatchObject({ exit_code: 0, images: [] });
    const read = (await client.callTool(
      { name: "readImage", arguments: { session_id: id, file_path: "/workspace/chart.png" } },
      undefined,
      { timeout: 120_000 },
    )) as CallToolResult;
    expect(read.content[0]?.type).toBe("image");
    expectPng(read.content[0]?.type === "image" ? read.content[0].data : "");
  });

  it("interrupts a timed-out cell and keeps earlier variables; reset clears them", async () => {
    const id = marker("pyt");
    await py({ code: "kept = 'still here'", session_id: id, create_if_missing: true });
    const stuck = await py({ code: "while True:\n    pass", session_id: id }, 1_500);
    expect(stuck.status).toBe(200);
    const r = resultOf(stuck.body);
    expect(r.timed_out).toBe(true);
    expect(r.interpreter_restarted).toBeUndefined();
    expect(r.stderr).toContain("KeyboardInterrupt");
    expect(resultOf((await py({ code: "kept", session_id: id })).body).output).toBe("'still here'\n");
    const reset = await py({ code: "print('kept' in globals())", session_id: id, reset: true });
    expect(resultOf(reset.body).output).toBe("False\n");
  });

  it("answers session_busy to pythonExec and terminalExec while a cell runs", async () => {
    const id = marker("pyb");
    await py({ code: "0", session_id: id, create_if_missing: true });
    const tag = marker("busy");
    const slow = py({ code: `import subprocess\nsubprocess.run(['sh', '-c', 'sleep 3', '${tag}'])\n'done'`, session_id: id });
    expect(await eventually(async () => (await hostProcessesWith(tag)).length > 0, 10_000, 50)).toBe(true);
    const busy = await py({ code: "1", session_id: id });
    expect(busy.status).toBe(502);
    expect(codeOf(busy.body)).toBe("session_busy");
    const shell = await terminal(c, { session_id: id, command: "true" });
    expect(shell.body.code).toBe("session_busy");
    expect(resultOf((await slow).body).output).toBe("'done'\n");
  });

  it("measures: import pandas in a fresh run, and a warm session's second call (p50 of 20)", async () => {
    const started = performance.now();
    const fresh = await py({
      code: "import time\nt = time.perf_counter()\nimport pandas\nprint(round((time.perf_counter() - t) * 1000))",
    });
    const freshMs = performance.now() - started;
    expect(resultOf(fresh.body).exit_code).toBe(0);
    const importMs = Number(resultOf(fresh.body).output.trim());
    const id = marker("pyw");
    await py({ code: "x = 1", session_id: id, create_if_missing: true });
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const r = await py({ code: "x + 1", session_id: id });
      times.push(performance.now() - t);
      expect(resultOf(r.body).output).toBe("2\n");
    }
    const p50 = median(times);
    // The same cell through MCP, and a terminal command in the same session for comparison.
    const mcp: number[] = [];
    const shell: number[] = [];
    for (let i = 0; i < 20; i++) {
      let t = performance.now();
      expect((await call({ code: "x + 1", session_id: id })).structuredContent).toMatchObject({ output: "2\n" });
      mcp.push(performance.now() - t);
      t = performance.now();
      expect((await terminal(c, { session_id: id, command: "true" })).status).toBe(200);
      shell.push(performance.now() - t);
    }
    console.info(
      `[measure] fresh run with import pandas (task, sync): ${freshMs.toFixed(0)} ms, of which the import ${importMs} ms; warm session x+1 p50: task ${p50.toFixed(1)} ms, MCP ${median(mcp).toFixed(1)} ms; terminalExec \`true\` in the same session p50 ${median(shell).toFixed(1)} ms`,
    );
    expect(p50).toBeLessThan(1_000);
  });
});
