import { describe, expect, it } from "vitest";
import { MCP_SERVER_NAME, mcpEndpoint, mcpSnippets } from "./mcp-config.ts";

const TOKEN = "obx_0123456789abcdef0123456789abcdef";

describe("MCP client snippets", () => {
  it("points every snippet at the console's /mcp with the bearer token", () => {
    for (const s of mcpSnippets("https://console.example/", TOKEN)) {
      expect(s.text).toContain("https://console.example/mcp");
      expect(s.text).toContain(`Bearer ${TOKEN}`);
    }
    expect(mcpEndpoint("http://127.0.0.1:8089")).toBe("http://127.0.0.1:8089/mcp");
  });

  it("gives a claude mcp add line with a quoted header", () => {
    const line = mcpSnippets("http://127.0.0.1:8089", TOKEN).find((s) => s.id === "claude-code")?.text;
    expect(line).toBe(
      `claude mcp add --transport http ${MCP_SERVER_NAME} http://127.0.0.1:8089/mcp --header 'Authorization: Bearer ${TOKEN}'`,
    );
  });

  it("quotes a token holding shell characters safely", () => {
    const line = mcpSnippets("http://h", "a'b$c").find((s) => s.id === "claude-code")?.text;
    expect(line).toContain(`'Authorization: Bearer a'\\''b$c'`);
  });

  it("gives JSON that parses into each client's shape", () => {
    const snippets = mcpSnippets("http://127.0.0.1:8089", TOKEN);
    const cursor = JSON.parse(snippets.find((s) => s.id === "cursor")?.text ?? "") as {
      mcpServers: Record<string, { url: string; headers: Record<string, string> }>;
    };
    expect(cursor.mcpServers[MCP_SERVER_NAME]).toEqual({
      url: "http://127.0.0.1:8089/mcp",
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    const vscode = JSON.parse(snippets.find((s) => s.id === "vscode")?.text ?? "") as {
      servers: Record<string, { type: string; url: string }>;
    };
    expect(vscode.servers[MCP_SERVER_NAME]?.type).toBe("http");
    const desktop = JSON.parse(snippets.find((s) => s.id === "claude-desktop")?.text ?? "") as {
      mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
    };
    expect(desktop.mcpServers[MCP_SERVER_NAME]?.args).toContain("http://127.0.0.1:8089/mcp");
    expect(desktop.mcpServers[MCP_SERVER_NAME]?.env.ONLYBOXES_AUTH).toBe(`Bearer ${TOKEN}`);
  });
});
