import { SELF } from "cloudflare:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import { beforeAll, describe, expect, it } from "vitest";
import { newAccountWithToken, ORIGIN } from "./helpers.ts";

/**
 * Clients that open `GET /mcp` first (to try a server-to-client SSE stream) must be able
 * to go on: the GET is answered 405 with `Allow: POST`, a request without a token gets
 * 401 with a `WWW-Authenticate: Bearer` challenge, and the POST flow then works.
 */

let token = "";
const MCP = new URL("/mcp", ORIGIN);
const STREAM_ACCEPT = { accept: "application/json, text/event-stream" };

beforeAll(async () => {
  token = (await newAccountWithToken()).token;
});

function rpc(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(
    new Request(MCP, {
      method: "POST",
      headers: { ...STREAM_ACCEPT, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    }),
  );
}

const initialize = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "get-first", version: "1.0.0" } },
};

describe("a client that opens GET /mcp first", () => {
  it("hears 405 Allow: POST with or without a token, then initializes and lists tools over POST", async () => {
    for (const headers of [{}, { authorization: `Bearer ${token}` }] as Record<string, string>[]) {
      const get = await SELF.fetch(new Request(MCP, { headers: { accept: "text/event-stream", ...headers } }));
      expect(get.status).toBe(405);
      expect(get.headers.get("allow")).toBe("POST");
      expect(await get.json()).toMatchObject({ code: "method_not_allowed" });
    }
    const auth = { authorization: `Bearer ${token}` };
    const init = await rpc(initialize, auth);
    expect(init.status).toBe(200);
    const initBody = (await init.json()) as { result: { protocolVersion: string; serverInfo: { name: string } } };
    expect(initBody.result.protocolVersion).toBe("2025-06-18");
    expect(initBody.result.serverInfo.name).toBe("onlyboxes");
    const initialized = await rpc({ jsonrpc: "2.0", method: "notifications/initialized" }, auth);
    expect(initialized.status).toBe(202);
    const list = await rpc({ jsonrpc: "2.0", id: 2, method: "tools/list" }, auth);
    expect(list.status).toBe(200);
    const tools = ((await list.json()) as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name);
    expect(tools).toEqual(expect.arrayContaining(["pythonExec", "terminalExec"]));
  });

  it("without a token, POST answers 401 with a Bearer challenge", async () => {
    for (const headers of [{}, { authorization: "Bearer obx_not_a_token" }] as Record<string, string>[]) {
      const res = await rpc(initialize, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
      expect(await res.json()).toMatchObject({ code: "unauthenticated" });
    }
  });
});

describe("the official SDK client (StreamableHTTPClientTransport)", () => {
  it("opens its GET stream, takes the 405, and works over POST", async () => {
    const seen: string[] = [];
    const client = new Client(
      { name: "sdk-get-first", version: "1.0.0" },
      { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
    );
    const transport = new StreamableHTTPClientTransport(MCP, {
      fetch: async (url, init) => {
        const res = await SELF.fetch(new Request(url, init));
        seen.push(`${init?.method ?? "GET"} ${res.status}`);
        return res;
      },
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    await client.connect(transport);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["pythonExec", "terminalExec"]));
    // initialize, the GET stream attempt (refused), the initialized notification, tools/list.
    expect(seen).toContain("GET 405");
    expect(seen).toEqual(expect.arrayContaining(["POST 200", "POST 202"]));
    await client.close();
  });

  it("reports the 401 to its caller when the token is missing", async () => {
    const client = new Client(
      { name: "sdk-no-token", version: "1.0.0" },
      { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
    );
    const transport = new StreamableHTTPClientTransport(MCP, { fetch: (url, init) => SELF.fetch(new Request(url, init)) });
    const err = await client.connect(transport).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as { code?: number }).code).toBe(401);
  });
});
