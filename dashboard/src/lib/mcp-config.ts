/**
 * Ready-to-paste MCP client configuration for a new access token. The console speaks
 * Streamable HTTP at `<origin>/mcp` with a bearer header; each client spells that
 * differently, so each gets its own snippet.
 */

/** One client's snippet: what to paste and where it goes. */
export interface McpSnippet {
  id: "claude-code" | "cursor" | "vscode" | "claude-desktop";
  client: string;
  where: string;
  language: "shell" | "json";
  text: string;
}

/** The server name the snippets register under. */
export const MCP_SERVER_NAME = "onlyboxes";

/** The MCP endpoint of the console served at `origin`. */
export function mcpEndpoint(origin: string): string {
  return `${origin.replace(/\/+$/, "")}/mcp`;
}

/** Quotes a value for a POSIX shell command line. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Every snippet for `token` on the console at `origin`, in the order the dashboard shows them. */
export function mcpSnippets(origin: string, token: string): McpSnippet[] {
  const url = mcpEndpoint(origin);
  const authorization = `Bearer ${token}`;
  const json = (value: unknown): string => JSON.stringify(value, null, 2);
  return [
    {
      id: "claude-code",
      client: "Claude Code",
      where: "Run in a terminal.",
      language: "shell",
      text: `claude mcp add --transport http ${MCP_SERVER_NAME} ${shellQuote(url)} --header ${shellQuote(`Authorization: ${authorization}`)}`,
    },
    {
      id: "cursor",
      client: "Cursor",
      where: "Add to .cursor/mcp.json; other clients with an mcpServers file that takes a URL and headers use the same shape.",
      language: "json",
      text: json({ mcpServers: { [MCP_SERVER_NAME]: { url, headers: { Authorization: authorization } } } }),
    },
    {
      id: "vscode",
      client: "VS Code",
      where: "Add to .vscode/mcp.json.",
      language: "json",
      text: json({ servers: { [MCP_SERVER_NAME]: { type: "http", url, headers: { Authorization: authorization } } } }),
    },
    {
      id: "claude-desktop",
      client: "Claude Desktop",
      where: "Add to claude_desktop_config.json (bridged to HTTP by mcp-remote; needs Node).",
      language: "json",
      text: json({
        mcpServers: {
          [MCP_SERVER_NAME]: {
            command: "npx",
            // biome-ignore lint/suspicious/noTemplateCurlyInString: mcp-remote expands ${VAR} from env itself
            args: ["-y", "mcp-remote", url, "--header", "Authorization:${ONLYBOXES_AUTH}"],
            env: { ONLYBOXES_AUTH: authorization },
          },
        },
      }),
    },
  ];
}
