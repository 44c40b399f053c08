/**
 * The MCP endpoint end to end: the official MCP SDK client (as an LLM host runs it) against
 * the real self-hosted console, its Docker worker and real containers.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type CallToolResult, ErrorCode, McpError, type Progress } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  containersOf,
  createAccountToken,
  eventually,
  hostProcessesWith,
  marker,
  type StartedConsole,
  startConsole,
  stopAndListLeftovers,
} from "./harness.ts";

// A 1×1 PNG.
const PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

let c: StartedConsole;
let client: Client;

async function connect(token: string): Promise<Client> {
  const cl = new Client({ name: "onlyboxes-e2e", version: "1.0.0" });
  await cl.connect(
    new StreamableHTTPClientTransport(new URL(`${c.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return cl;
}

beforeAll(async () => {
  c = await startConsole({
    capabilities: ["echo", "pythonExec", "terminalExec", "terminalResource"],
    env: { CONSOLE_ENABLE_REGISTRATION: "true" },
  });
  client = await connect(c.token);
}, 240_000);

afterAll(async () => {
  await client?.close();
  expect(await stopAndListLeftovers(c)).toEqual([]);
}, 90_000);

function call(name: string, args: Record<string, unknown>, onprogress?: (p: Progress) => void): Promise<CallToolResult> {
  return client.callTool({ name, arguments: args }, undefined, {
    timeout: 120_000,
    ...(onprogress ? { onprogress } : {}),
  }) as Promise<CallToolResult>;
}

function textOf(r: CallToolResult): string {
  return r.content.map((item) => (item.type === "text" ? item.text : "")).join("");
}

describe("MCP over HTTP", () => {
  it("refuses a missing or wrong token with 401 and GET with 405", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    expect((await fetch(`${c.url}/mcp`, { method: "POST", headers, body })).status).toBe(401);
    const wrong = await fetch(`${c.url}/mcp`, { method: "POST", headers: { ...headers, authorization: "Bearer nope" }, body });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: "invalid token", code: "unauthenticated" });
    const get = await fetch(`${c.url}/mcp`, { headers: { authorization: `Bearer ${c.token}`, accept: "text/event-stream" } });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
  });

  it("lists the contract's four tools and the three file tools, with strict schemas", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual(["echo", "listFiles", "pythonExec", "readFile", "readImage", "terminalExec", "writeFile"]);
    for (const t of tools) expect(t.inputSchema.additionalProperties).toBe(false);
  });

  it("answers invalid arguments with JSON-RPC error -32602 and runs nothing", async () => {
    const before = (await containersOf(c)).length;
    const err = await call("pythonExec", { code: "print(1)", network: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).code).toBe(ErrorCode.InvalidParams);
    expect((err as McpError).message).toMatch(/unknown field: network/);
    expect((await containersOf(c)).length).toBeLessThanOrEqual(before);
  });

  it("echo round-trips through the worker", async () => {
    const r = await call("echo", { message: "über MCP" });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toEqual({ message: "über MCP" });
  });
});

describe("pythonExec", () => {
  it("returns output, stderr and exit_code; an exception is a normal result", async () => {
    const ok = await call("pythonExec", { code: "import sys\nprint(6*7)\nprint('careful', file=sys.stderr)" });
    expect(ok.isError).toBeFalsy();
    expect(ok.structuredContent).toEqual({ output: "42\n", stderr: "careful\n", exit_code: 0, images: [] });
    expect(JSON.parse(textOf(ok))).toEqual(ok.structuredContent);

    const raised = await call("pythonExec", { code: "raise ValueError('boom')" });
    expect(raised.isError).toBeFalsy();
    const s = raised.structuredContent as { exit_code: number; stderr: string };
    expect(s.exit_code).toBe(1);
    expect(s.stderr).toContain("ValueError: boom");
  });

  it("stops a run at timeout_ms: isError naming the limit, and no container is left running it", async () => {
    const tag = marker("mcp-timeout");
    const started = Date.now();
    // Re-exec with the tag in argv so the host's ps can find the process if it survived.
    const code = `import os, sys\nos.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", "${tag}"])`;
    const r = await call("pythonExec", { code, timeout_ms: 1_500 });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/deadline_exceeded/);
    expect(textOf(r)).toMatch(/1500 ms/);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await eventually(async () => (await hostProcessesWith(tag)).length === 0, 10_000)).toBe(true);
    const after = await call("pythonExec", { code: "print('still fine')" });
    expect(after.structuredContent).toMatchObject({ output: "still fine\n", exit_code: 0 });
  });

  it("streams output as progress notifications while the program runs", async () => {
    const progress: Progress[] = [];
    const code = "import sys, time\nfor i in range(3):\n    print(f'line {i}', flush=True)\n    time.sleep(0.3)";
    const r = await call("pythonExec", { code }, (p) => progress.push(p));
    expect(r.structuredContent).toMatchObject({ output: "line 0\nline 1\nline 2\n", exit_code: 0 });
    const streamed = progress.map((p) => p.message ?? "").join("");
    expect(streamed).toBe("line 0\nline 1\nline 2\n");
    expect(progress.length).toBeGreaterThanOrEqual(2);
  });
});

describe("terminalExec and readImage", () => {
  let sessionId = "";

  it("keeps files in a session between calls; a non-zero exit is a normal result", async () => {
    const first = await call("terminalExec", { command: "mkdir -p /tmp/w && echo hi > /tmp/w/a.txt && cat /tmp/w/a.txt" });
    expect(first.isError).toBeFalsy();
    const s = first.structuredContent as { session_id: string; created: boolean; stdout: string; exit_code: number };
    expect(s).toMatchObject({ created: true, stdout: "hi\n", exit_code: 0 });
    sessionId = s.session_id;

    const second = await call("terminalExec", { command: "cat /tmp/w/a.txt; exit 3", session_id: sessionId });
    expect(second.isError).toBeFalsy();
    expect(second.structuredContent).toMatchObject({ session_id: sessionId, created: false, stdout: "hi\n", exit_code: 3 });

    const missing = await call("terminalExec", { command: "true", session_id: "sess_nope" });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/session_not_found/);
  });

  it("readImage returns a PNG as an image item, unchanged", async () => {
    const w = await call("terminalExec", {
      command: `echo '${PNG_BASE64}' | base64 -d > /tmp/w/dot.png && ls -l /tmp/w/dot.png`,
      session_id: sessionId,
    });
    expect((w.structuredContent as { exit_code: number }).exit_code).toBe(0);
    const r = await call("readImage", { session_id: sessionId, file_path: "/tmp/w/dot.png" });
    expect(r.isError).toBeFalsy();
    expect(r.content).toEqual([{ type: "image", data: PNG_BASE64, mimeType: "image/png" }]);
  });

  it("readImage answers a text note for other files and isError for missing files and directories", async () => {
    const text = await call("readImage", { session_id: sessionId, file_path: "/tmp/w/a.txt" });
    expect(text.isError).toBeFalsy();
    expect(text.content).toHaveLength(1);
    expect(textOf(text)).toMatch(/^unsupported mime type: text\/plain.*; expected image\/\*$/);

    for (const [path, code] of [
      ["/tmp/w/none.png", /file_not_found/],
      ["/tmp/w", /path_is_directory/],
    ] as const) {
      const r = await call("readImage", { session_id: sessionId, file_path: path });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(code);
    }
  });

  it("another account cannot read the session", async () => {
    const otherToken = await createAccountToken(c, marker("mcp-user"));
    const other = await connect(otherToken);
    const r = (await other.callTool({
      name: "readImage",
      arguments: { session_id: sessionId, file_path: "/tmp/w/dot.png" },
    })) as CallToolResult;
    await other.close();
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/session_not_found/);
  });
});
