import { env, SELF } from "cloudflare:test";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ErrorCode, McpError, type Progress } from "@modelcontextprotocol/sdk/types.js";
import type { CommandDispatch } from "@onlyboxes/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { plainToolCall } from "../src/mcp/plain-tool-call.ts";
import { nodeRegistryStub } from "../src/objects/node-registry.ts";
import { callJson, countingBody, newAccountWithToken, ORIGIN, waitFor } from "./helpers.ts";
import { connectMcpClient } from "./mcp-client.ts";
import { connectTestWorker, offering, type TestReply, type TestWorker, terminalReply } from "./worker-harness.ts";

const PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/**
 * A test worker on the real wire that plays all four capabilities. pythonExec: code
 * `stream` writes two output chunks before answering, `raise` exits 1, `hang` never
 * answers. terminalExec: any command succeeds (`exit N` exits N) in a per-session store.
 * terminalResource: /work/plot.png is a PNG, /work/notes.txt text, /work/ a directory.
 */
/** A 1x1 PNG, as the worker returns a figure. */
const CHART = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

function handler(d: CommandDispatch, raw: unknown, w: TestWorker): TestReply | Promise<TestReply> {
  switch (d.capability) {
    case "echo":
      return { payload: { message: (raw as { message: string }).message } };
    case "pythonExec": {
      const { code } = raw as { code: string };
      if (code === "hang") return "no-reply";
      if (code === "chart") {
        return { payload: { output: "", stderr: "", exit_code: 0, images: [{ mime_type: "image/png", data_base64: CHART }] } };
      }
      if (code === "raise") return { payload: { output: "", stderr: "Traceback: ValueError\n", exit_code: 1 } };
      if (code === "stream") {
        w.output(d.commandId, "stdout", "step 1\n");
        w.output(d.commandId, "stderr", "warning\n");
        return new Promise((resolve) =>
          setTimeout(() => resolve({ payload: { output: "step 1\n", stderr: "warning\n", exit_code: 0 } }), 100),
        );
      }
      return { payload: { output: `ran ${code.length} chars\n`, stderr: "", exit_code: 0 } };
    }
    case "terminalExec": {
      const p = raw as { session_id: string; command: string; create_if_missing?: boolean };
      if (!p.create_if_missing && !sessions.has(p.session_id)) {
        return { error: { code: "session_not_found", message: "session not found" } };
      }
      const created = !sessions.has(p.session_id);
      sessions.add(p.session_id);
      const exit = /^exit (\d+)$/.exec(p.command);
      return terminalReply(p.session_id, {
        created,
        stdout: exit ? "" : `$ ${p.command}\n`,
        stderr: exit ? "failed\n" : "",
        exit_code: exit ? Number(exit[1]) : 0,
      });
    }
    case "terminalResource": {
      const p = raw as { session_id: string; file_path: string; action: "validate" | "read" };
      if (!sessions.has(p.session_id)) return { error: { code: "session_not_found", message: "session not found" } };
      const files: Record<string, { mime: string; blob: string }> = {
        "/work/plot.png": { mime: "image/png", blob: PNG_BASE64 },
        "/work/notes.txt": { mime: "text/plain; charset=utf-8", blob: btoa("hello") },
      };
      if (p.file_path === "/work/") return { error: { code: "path_is_directory", message: "path is a directory" } };
      const f = files[p.file_path];
      if (!f) return { error: { code: "file_not_found", message: "file not found" } };
      reads.push(`${p.action} ${p.file_path}`);
      return {
        payload: {
          session_id: p.session_id,
          file_path: p.file_path,
          mime_type: f.mime,
          size_bytes: atob(f.blob).length,
          ...(p.action === "read" ? { blob: f.blob } : {}),
        },
      };
    }
    default:
      return { error: { code: "invalid_argument", message: "unknown capability" } };
  }
}

const sessions = new Set<string>();
const reads: string[] = [];
let token = "";
let client: Client;
let worker: TestWorker;

beforeAll(async () => {
  token = (await newAccountWithToken()).token;
  client = await connectMcpClient(token);
});

afterAll(async () => {
  await client.close();
});

function textOf(result: object): string {
  const content = ((result as { content?: unknown }).content ?? []) as Array<{ type: string; text?: string }>;
  return content.map((c) => c.text ?? "").join("");
}

async function expectInvalidParams(name: string, args: Record<string, unknown>, message: RegExp): Promise<void> {
  const err = await client.callTool({ name, arguments: args }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(McpError);
  expect((err as McpError).code).toBe(ErrorCode.InvalidParams);
  expect((err as McpError).message).toMatch(message);
}

/** Within a describe block: the test worker offering `capabilities`, gone (and unregistered) after it. */
function withWorker(...capabilities: string[]): void {
  beforeAll(async () => {
    worker = await connectTestWorker({ capabilities: offering(...capabilities), handler });
    await worker.acked;
  });
  afterAll(async () => {
    worker.close();
    await worker.closed;
    await waitFor(async () => (await nodeRegistryStub(env).list()).length === 0);
  });
}

describe("mcp: transport and auth", () => {
  it("refuses a request without a valid token with 401", async () => {
    const body = { jsonrpc: "2.0", id: 1, method: "tools/list" };
    const headers = { accept: "application/json, text/event-stream" };
    const none = await callJson("/mcp", { method: "POST", body, headers });
    expect(none.status).toBe(401);
    const wrong = await callJson("/mcp", { method: "POST", body, headers, bearer: "obx_wrong" });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ error: "invalid token", code: "unauthenticated" });
    const err = await connectMcpClient("obx_wrong").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as { code?: number }).code).toBe(401);
  });

  it("answers GET with 405 and Allow: POST", async () => {
    const res = await SELF.fetch(new Request(new URL("/mcp", ORIGIN), { headers: { accept: "text/event-stream" } }));
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });

  it("answers with plain JSON when no progress is asked for", async () => {
    const res = await callJson<{ result: { tools: unknown[] } }>("/mcp", {
      method: "POST",
      bearer: token,
      body: { jsonrpc: "2.0", id: 7, method: "tools/list" },
      headers: { accept: "application/json, text/event-stream" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body.result.tools).toHaveLength(7);
  });

  it("answers malformed JSON with a JSON-RPC parse error", async () => {
    const res = await callJson<{ error: { code: number } }>("/mcp", {
      method: "POST",
      bearer: token,
      body: "{oops",
      headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(-32700);
  });
});

describe("mcp: Origin (DNS-rebinding guard)", () => {
  const list = { jsonrpc: "2.0", id: 9, method: "tools/list" };
  const accept = "application/json, text/event-stream";

  function listFrom(path: string, origin: string | undefined, extraEnv?: Record<string, string>) {
    return callJson<{ result?: { tools: unknown[] }; error?: { message: string } }>(path, {
      method: "POST",
      bearer: token,
      body: list,
      headers: origin === undefined ? { accept } : { accept, origin },
      ...(extraEnv ? { env: extraEnv } : {}),
    });
  }

  it("serves a request without Origin (non-browser clients)", async () => {
    const res = await listFrom("/mcp", undefined);
    expect(res.status).toBe(200);
    expect(res.body.result?.tools).toHaveLength(7);
  });

  it.each([
    ["a foreign origin", "http://evil.example"],
    ["Origin: null", "null"],
    ["a rebound name posing as this console", ORIGIN],
    ["the public URL's host on another port", "https://console.example:8443"],
  ])("refuses %s with 403, token or not", async (_label, origin) => {
    const res = await listFrom("/mcp", origin, { CONSOLE_PUBLIC_URL: "https://console.example" });
    expect(res.status).toBe(403);
    expect(res.body.error?.message).toContain(origin);
    const anonymous = await callJson("/mcp", { method: "POST", body: list, headers: { accept, origin } });
    expect(anonymous.status).toBe(403);
  });

  it("allows CONSOLE_PUBLIC_URL, CONSOLE_ALLOWED_ORIGINS and its own address when that is an IP", async () => {
    const env = {
      CONSOLE_PUBLIC_URL: "https://console.example/onlyboxes",
      CONSOLE_ALLOWED_ORIGINS: "http://localhost:6274, https://inspector.example",
    };
    for (const origin of ["https://console.example", "http://localhost:6274", "https://inspector.example"]) {
      expect((await listFrom("/mcp", origin, env)).status).toBe(200);
    }
    expect((await listFrom("http://127.0.0.1:8089/mcp", "http://127.0.0.1:8089")).status).toBe(200);
    expect((await listFrom("http://127.0.0.1:8089/mcp", "http://127.0.0.1:9999")).status).toBe(403);
  });
});

describe("mcp: body limit", () => {
  it("answers 413 to a streamed body over 4 MiB and stops reading it", async () => {
    const body = countingBody(64 * 1024 * 1024);
    const res = await callJson<{ error: { code: number; message: string } }>("/mcp", {
      method: "POST",
      bearer: token,
      body: body.stream,
      headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
    expect(res.body.error.message).toMatch(/exceeds 4194304 bytes/);
    // Reading stopped near the limit: far less than the 64 MiB offered was pulled.
    expect(body.pulled()).toBeLessThan(16 * 1024 * 1024);
  });
});

describe("mcp: initialize", () => {
  it("names the server and tells the model how to use it", () => {
    expect(client.getServerVersion()?.name).toBe("onlyboxes");
    expect(client.getServerCapabilities()?.tools).toBeDefined();
    expect(client.getInstructions()).toMatch(/pythonExec/);
  });
});

describe("mcp: tools/list", () => {
  it("lists the contract's four tools and the three file tools, all with strict input schemas", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      "echo",
      "listFiles",
      "pythonExec",
      "readFile",
      "readImage",
      "terminalExec",
      "writeFile",
    ]);
    for (const t of tools) {
      expect(t.inputSchema.type).toBe("object");
      expect(t.inputSchema.additionalProperties).toBe(false);
      expect((t.description ?? "").length).toBeGreaterThan(80);
    }
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect(byName.get("echo")?.inputSchema.required).toEqual(["message"]);
    expect(byName.get("pythonExec")?.inputSchema.required).toEqual(["code"]);
    expect(byName.get("terminalExec")?.inputSchema.required).toEqual(["command"]);
    expect(byName.get("readImage")?.inputSchema.required?.sort()).toEqual(["file_path", "session_id"]);
    expect(Object.keys(byName.get("terminalExec")?.inputSchema.properties ?? {}).sort()).toEqual([
      "command",
      "create_if_missing",
      "lease_ttl_sec",
      "session_id",
      "timeout_ms",
    ]);
    for (const name of ["echo", "pythonExec", "terminalExec"]) expect(byName.get(name)?.outputSchema?.type).toBe("object");
    expect(byName.get("readImage")?.outputSchema).toBeUndefined();
  });
});

describe("mcp: invalid arguments are JSON-RPC errors -32602", () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ["echo", {}, /message: is required/],
    ["echo", { message: "   " }, /message: must not be blank/],
    ["echo", { message: "hi", extra: 1 }, /unknown field: extra/],
    ["echo", { message: "hi", timeout_ms: 60_001 }, /timeout_ms: must be an integer between 1 and 60000/],
    ["pythonExec", { code: 42 }, /code: must be a string/],
    ["pythonExec", { code: "print(1)", timeout_ms: 0 }, /timeout_ms/],
    ["terminalExec", { command: "ls", lease_ttl_sec: 5 }, /lease_ttl_sec: must be an integer between 60 and 1800/],
    ["terminalExec", { command: "ls", session_id: "has space" }, /session_id: must be printable ASCII/],
    ["readImage", { session_id: "s" }, /file_path: is required/],
    ["readImage", { session_id: "s", file_path: "/a.png", action: "read" }, /unknown field: action/],
  ])("%s %j", async (name, args, message) => {
    await expectInvalidParams(name, args, message);
  });

  it("an unknown tool is -32602 too", async () => {
    await expectInvalidParams("rmrf", {}, /Unknown tool: rmrf/);
  });
});

describe("mcp: without a worker", () => {
  it("reports no_worker as an isError result an LLM can act on", async () => {
    const result = await client.callTool({ name: "pythonExec", arguments: { code: "print(1)" } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/no_worker/);
    expect(textOf(result)).toMatch(/operator/);
  });
});

describe("mcp: tools on a worker", () => {
  withWorker("echo", "pythonExec", "terminalExec", "terminalResource");

  it("echo returns structuredContent and the same JSON as text", async () => {
    const result = await client.callTool({ name: "echo", arguments: { message: "héllo" } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ message: "héllo" });
    expect(JSON.parse(textOf(result))).toEqual({ message: "héllo" });
  });

  it("pythonExec returns output, stderr and exit_code; a non-zero exit is a normal result", async () => {
    const ok = await client.callTool({ name: "pythonExec", arguments: { code: "print(6*7)" } });
    expect(ok.isError).toBeFalsy();
    expect(ok.structuredContent).toEqual({ output: "ran 10 chars\n", stderr: "", exit_code: 0, images: [] });
    expect(ok.content).toHaveLength(1);
    const failed = await client.callTool({ name: "pythonExec", arguments: { code: "raise" } });
    expect(failed.isError).toBeFalsy();
    expect(failed.structuredContent).toEqual({ output: "", stderr: "Traceback: ValueError\n", exit_code: 1, images: [] });
  });

  it("pythonExec returns each figure as an image content block after the text, its data only once", async () => {
    const result = await client.callTool({ name: "pythonExec", arguments: { code: "chart" } });
    expect(result.isError).toBeFalsy();
    expect(result.content).toEqual([
      { type: "text", text: JSON.stringify({ output: "", stderr: "", exit_code: 0, images: [{ mime_type: "image/png" }] }) },
      { type: "image", data: CHART, mimeType: "image/png" },
    ]);
    expect(result.structuredContent).toEqual({
      output: "",
      stderr: "",
      exit_code: 0,
      images: [{ mime_type: "image/png", data_base64: CHART }],
    });
  });

  it("pythonExec refuses an input file path outside the working directory with -32602", async () => {
    await expect(
      client.callTool({ name: "pythonExec", arguments: { code: "1", files: [{ path: "../etc/x", content: "" }] } }),
    ).rejects.toThrow(/files\.0\.path: must be a relative path inside the working directory/);
  });

  it("pythonExec past its timeout is an isError result naming the limit, and the worker is told to stop", async () => {
    const result = await client.callTool({ name: "pythonExec", arguments: { code: "hang", timeout_ms: 300 } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/deadline_exceeded/);
    expect(textOf(result)).toMatch(/300 ms/);
    const hung = worker.dispatches.filter((d) => d.capability === "pythonExec").at(-1);
    expect(hung && worker.cancels.includes(hung.commandId)).toBe(true);
  });

  it("streams pythonExec output as progress notifications when the client asks for progress", async () => {
    const progress: Progress[] = [];
    const result = await client.callTool({ name: "pythonExec", arguments: { code: "stream" } }, undefined, {
      onprogress: (p) => progress.push(p),
    });
    expect(result.structuredContent).toEqual({ output: "step 1\n", stderr: "warning\n", exit_code: 0, images: [] });
    expect(progress.map((p) => p.message)).toEqual(["step 1\n", "[stderr] warning\n"]);
    expect(progress[1]?.progress ?? 0).toBeGreaterThan(progress[0]?.progress ?? 0);
  });

  it("answers a progress request as an SSE stream", async () => {
    const res = await SELF.fetch(
      new Request(new URL("/mcp", ORIGIN), {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          accept: "application/json, text/event-stream",
          "content-type": "application/json",
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 3,
          method: "tools/call",
          params: { name: "pythonExec", arguments: { code: "stream" }, _meta: { progressToken: "p1" } },
        }),
      }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text).toContain('"method":"notifications/progress"');
    expect(text).toContain('"progressToken":"p1"');
    expect(text).toContain('"exit_code":0');
  });

  it("terminalExec keeps a session; a non-zero exit is a normal result; an unknown session is isError", async () => {
    const first = await client.callTool({ name: "terminalExec", arguments: { command: "touch a" } });
    expect(first.isError).toBeFalsy();
    const s = first.structuredContent as { session_id: string; created: boolean; stdout: string };
    expect(s.created).toBe(true);
    expect(s.stdout).toBe("$ touch a\n");
    expect(s.session_id).toMatch(/^sess_/);

    const second = await client.callTool({ name: "terminalExec", arguments: { command: "exit 3", session_id: s.session_id } });
    expect(second.isError).toBeFalsy();
    expect(second.structuredContent).toMatchObject({
      session_id: s.session_id,
      created: false,
      exit_code: 3,
      stderr: "failed\n",
    });

    const missing = await client.callTool({ name: "terminalExec", arguments: { command: "ls", session_id: "nope" } });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/session_not_found/);
    expect(textOf(missing)).toMatch(/create_if_missing/);
  });

  it("readImage returns one image item for image/* and a text note otherwise; failures are isError", async () => {
    const started = await client.callTool({ name: "terminalExec", arguments: { command: "python3 plot.py" } });
    const sessionId = (started.structuredContent as { session_id: string }).session_id;

    const image = await client.callTool({ name: "readImage", arguments: { session_id: sessionId, file_path: "/work/plot.png" } });
    expect(image.isError).toBeFalsy();
    expect(image.content).toEqual([{ type: "image", data: PNG_BASE64, mimeType: "image/png" }]);

    reads.length = 0;
    const text = await client.callTool({ name: "readImage", arguments: { session_id: sessionId, file_path: "/work/notes.txt" } });
    expect(text.isError).toBeFalsy();
    expect(text.content).toEqual([{ type: "text", text: "unsupported mime type: text/plain; charset=utf-8; expected image/*" }]);
    // A non-image is never transferred.
    expect(reads).toEqual(["validate /work/notes.txt"]);

    for (const [path, code] of [
      ["/work/missing.png", /file_not_found/],
      ["/work/", /path_is_directory/],
    ] as const) {
      const r = await client.callTool({ name: "readImage", arguments: { session_id: sessionId, file_path: path } });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(code);
    }
    const noSession = await client.callTool({
      name: "readImage",
      arguments: { session_id: "sess_missing", file_path: "/work/plot.png" },
    });
    expect(noSession.isError).toBe(true);
    expect(textOf(noSession)).toMatch(/session_not_found/);
  });
});

describe("mcp: a plain tools/call answered directly", () => {
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    callJson<unknown>("/mcp", {
      method: "POST",
      bearer: token,
      body,
      headers: { accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18", ...headers },
    });
  const call = (id: number, name: string, args: unknown) => ({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name, arguments: args },
  });

  withWorker("echo", "pythonExec");

  it("answers exactly as the SDK's server does: a result, a tool error, an invalid argument", async () => {
    const calls = [
      call(1, "echo", { message: "same" }),
      call(2, "pythonExec", { code: "raise" }),
      call(3, "echo", { message: "" }),
      call(4, "echo", { message: "x", extra: true }),
      call(5, "pythonExec", { code: "print(1)", timeout_ms: 0 }),
      { ...call(6, "echo", { message: "meta" }), params: { name: "echo", arguments: { message: "meta" }, _meta: { k: 1 } } },
    ];
    for (const c of calls) {
      // A single request takes the direct path; the same request as a batch of one is
      // always the SDK's (a batch is never "plain"), which answers it unwrapped.
      const direct = await post(c);
      const sdk = await post([c]);
      expect(direct.status, JSON.stringify(direct.body)).toBe(200);
      expect(sdk.status).toBe(200);
      expect(direct.body).toEqual(sdk.body);
    }
  });

  it("takes the direct path only for a single plain tools/call of a known tool", () => {
    const req = (headers: Record<string, string> = {}) =>
      new Request(`${ORIGIN}/mcp`, {
        method: "POST",
        headers: { accept: "application/json, text/event-stream", "content-type": "application/json", ...headers },
      });
    const echo = call(1, "echo", { message: "m" });
    expect(plainToolCall(req(), echo, false)?.id).toBe(1);
    expect(plainToolCall(req({ "mcp-protocol-version": "2025-06-18" }), { ...echo, id: "a" }, false)?.id).toBe("a");
    expect(plainToolCall(req(), echo, true)).toBeNull();
    expect(plainToolCall(req(), [echo], false)).toBeNull();
    expect(plainToolCall(req(), call(1, "nope", {}), false)).toBeNull();
    expect(plainToolCall(req(), { ...echo, id: null }, false)).toBeNull();
    expect(plainToolCall(req(), { ...echo, params: { ...echo.params, task: {} } }, false)).toBeNull();
    expect(plainToolCall(req({ "mcp-protocol-version": "1999-01-01" }), echo, false)).toBeNull();
    expect(plainToolCall(req({ accept: "application/json" }), echo, false)).toBeNull();
    expect(plainToolCall(req({ "content-type": "text/plain" }), echo, false)).toBeNull();
  });

  it("leaves every other shape to the SDK: unknown tools, bad versions, missing Accept", async () => {
    const unknown = await post(call(7, "nope", {}));
    expect(unknown.body).toMatchObject({ id: 7, error: { code: -32602, message: expect.stringMatching(/Unknown tool: nope/) } });
    const version = await post(call(8, "echo", { message: "v" }), { "mcp-protocol-version": "1999-01-01" });
    expect(version.status).toBe(400);
    const accept = await post(call(9, "echo", { message: "a" }), { accept: "application/json" });
    expect(accept.status).toBe(406);
  });
});

describe("mcp: a misbehaving worker", () => {
  it("an answer that does not match the output schema is an isError result, not a broken one", async () => {
    const other = await connectTestWorker({
      capabilities: [{ name: "echo", maxInflight: 4 }],
      handler: () => ({ payload: { unexpected: true } }),
    });
    await other.acked;
    const result = await client.callTool({ name: "echo", arguments: { message: "x" } });
    other.close();
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/unexpected echo result/);
  });
});
