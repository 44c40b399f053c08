#!/usr/bin/env node
// MCP tools/call vs. the same work through REST, on the self-hosted console with its local
// Docker worker: echo (MCP `echo` vs. POST /api/v1/commands/echo) and pythonExec (MCP
// `pythonExec` vs. POST /api/v1/tasks mode=sync). Calls alternate MCP/REST so drift hits
// both alike; both go through the same keep-alive HTTP client, so the ratio is the
// console's own MCP overhead. One run, bounded; prints p50/p99 and MCP/REST (goal ≤ 1.2).
//
//   node bench/mcp-bench.mjs [--echo 1000] [--python 40] [--no-python]
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { fmt, numberArg, percentile, request, signInWithToken, startConsole } from "./lib.mjs";

const ECHO_N = numberArg("echo", 1000);
const PYTHON_N = numberArg("python", 40);
const WITH_PYTHON = !process.argv.includes("--no-python");
const GOAL = 1.2;

const c = await startConsole(WITH_PYTHON ? {} : { WORKER_DOCKER_ENABLED: "false" });
try {
  const { token } = await signInWithToken(c);
  const auth = { authorization: `Bearer ${token}` };
  const mcpHeaders = { ...auth, accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18" };

  // The official client first: it must initialize, list and call like any MCP host would.
  const client = new Client({ name: "mcp-bench", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${c.url}/mcp`), { requestInit: { headers: auth } }));
  const tools = (await client.listTools()).tools.map((t) => t.name);
  const hasPython = WITH_PYTHON && (await waitForPython(client));

  let rpcId = 0;
  /** One tools/call as the SDK sends it (stateless server: no session header), checked for success. */
  const mcpCall = async (name, args) => {
    const r = await request(`${c.url}/mcp`, {
      method: "POST",
      headers: mcpHeaders,
      body: { jsonrpc: "2.0", id: ++rpcId, method: "tools/call", params: { name, arguments: args } },
    });
    const body = JSON.parse(r.body);
    if (r.status !== 200 || body.error || body.result?.isError) throw new Error(`MCP ${name}: ${r.status} ${r.body}`);
    return r;
  };
  const restCall = async (path, body) => {
    const r = await request(`${c.url}${path}`, { method: "POST", headers: auth, body });
    if (r.status !== 200) throw new Error(`REST ${path}: ${r.status} ${r.body}`);
    return r;
  };

  const cases = [
    {
      what: "echo",
      n: ECHO_N,
      mcp: () => mcpCall("echo", { message: "bench" }),
      rest: () => restCall("/api/v1/commands/echo", { message: "bench" }),
      restPath: "POST /api/v1/commands/echo",
    },
  ];
  if (hasPython) {
    const code = "print(sum(range(1000)))";
    cases.push({
      what: "pythonExec",
      n: PYTHON_N,
      mcp: () => mcpCall("pythonExec", { code }),
      rest: () => restCall("/api/v1/tasks", { capability: "pythonExec", input: { code }, mode: "sync" }),
      restPath: "POST /api/v1/tasks (sync)",
    });
  }

  const rows = [];
  let worst = 0;
  for (const k of cases) {
    // Warm both paths (isolate, Durable Objects, sockets, the worker's container pool).
    for (let i = 0; i < Math.min(50, Math.ceil(k.n / 5)); i++) {
      await k.mcp();
      await k.rest();
    }
    const mcp = [];
    const rest = [];
    for (let i = 0; i < k.n; i++) {
      // Alternate which goes first so neither always meets a warmer worker.
      if (i % 2 === 0) {
        mcp.push((await k.mcp()).ms);
        rest.push((await k.rest()).ms);
      } else {
        rest.push((await k.rest()).ms);
        mcp.push((await k.mcp()).ms);
      }
    }
    mcp.sort((a, b) => a - b);
    rest.sort((a, b) => a - b);
    for (const p of [50, 99]) {
      const ratio = percentile(mcp, p) / percentile(rest, p);
      if (p === 50) worst = Math.max(worst, ratio);
      rows.push({
        what: `${k.what} p${p} ms (n=${k.n})`,
        MCP: fmt(percentile(mcp, p)),
        REST: fmt(percentile(rest, p)),
        "MCP/REST": fmt(ratio),
        "REST route": k.restPath,
      });
    }
  }

  // The same echo through the official SDK client, for reference (its own fetch, no shared agent).
  const sdk = [];
  for (let i = 0; i < Math.min(ECHO_N, 300); i++) {
    const t0 = performance.now();
    const r = await client.callTool({ name: "echo", arguments: { message: "bench" } });
    if (r.isError) throw new Error(`SDK echo failed: ${JSON.stringify(r.content)}`);
    sdk.push(performance.now() - t0);
  }
  sdk.sort((a, b) => a - b);
  await client.close();

  console.log(`\nMCP tools/call vs. REST, self-hosted console, real worker (tools: ${tools.join(", ")})`);
  console.table(rows);
  console.log(
    `echo through the official MCP SDK client (global fetch): p50 ${fmt(percentile(sdk, 50))} ms, p99 ${fmt(percentile(sdk, 99))} ms`,
  );
  if (!hasPython)
    console.log("pythonExec: skipped (no worker offers it; run with Docker and the sandbox images, or drop --no-python)");
  console.log(`worst p50 MCP/REST ratio: ${fmt(worst)} (goal ≤ ${GOAL}): ${worst <= GOAL ? "met" : "NOT met"}`);
} finally {
  await c.stop();
}

/** Waits (bounded) until pythonExec answers through MCP; false when no worker offers it. */
async function waitForPython(client) {
  const until = Date.now() + 60_000;
  for (;;) {
    const r = await client.callTool({ name: "pythonExec", arguments: { code: "print(1)" } });
    if (!r.isError) return true;
    const text = r.content?.[0]?.text ?? "";
    if (Date.now() > until || !/no_worker|no_capacity/.test(text)) {
      console.log(`pythonExec unavailable: ${text}`);
      return false;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
}
