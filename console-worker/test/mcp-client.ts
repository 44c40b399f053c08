import { SELF } from "cloudflare:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import { ORIGIN } from "./helpers.ts";

/**
 * Connects the official MCP SDK client to the console under test: its HTTP goes through
 * SELF.fetch, and it validates structured results with the eval-free validator (Ajv cannot
 * compile schemas inside workerd).
 */
export async function connectMcpClient(token?: string): Promise<Client> {
  const client = new Client(
    { name: "onlyboxes-test", version: "1.0.0" },
    { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
  );
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", ORIGIN), {
    fetch: (url, init) => SELF.fetch(new Request(url, init)),
    ...(token !== undefined ? { requestInit: { headers: { authorization: `Bearer ${token}` } } } : {}),
  });
  await client.connect(transport);
  return client;
}
