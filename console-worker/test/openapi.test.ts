import { Validator } from "@cfworker/json-schema";
import type { TerminalExecPayload } from "@onlyboxes/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/index.ts";
import { API_ROUTES } from "../src/openapi/route-table.ts";
import { adminCredentials, call, createAccount, createToken, signInAdmin, uniqueName } from "./helpers.ts";
import { connectTestWorker, offering, type TestWorker, terminalReply } from "./worker-harness.ts";

/**
 * The OpenAPI document against the real console: every route the app serves is in it, and
 * every answer the routes give here (successes and errors) has its status documented and
 * a body that matches the documented JSON Schema.
 */

type Json = Record<string, unknown>;
interface Operation {
  responses: Record<string, { content?: Record<string, { schema: Json }> }>;
  requestBody?: { content: Record<string, { schema: Json }> };
}

let doc: { openapi: string; paths: Record<string, Record<string, Operation>> };
let adminCookie = "";
let userCookie = "";
let token = "";
let worker: TestWorker;
const exercised = new Set<string>();

/** The OpenAPI path template a concrete path stands for. */
function templateOf(method: string, path: string): string {
  const concrete = path.split("?")[0] ?? path;
  for (const [template, item] of Object.entries(doc.paths)) {
    if (!item[method]) continue;
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    if (re.test(concrete)) return template;
  }
  throw new Error(`${method.toUpperCase()} ${concrete} is not in the OpenAPI document`);
}

/**
 * Calls a route and checks the answer against the document: the status is documented and
 * a JSON body validates against that status's schema. Returns the status and body.
 */
async function documented(
  method: "get" | "post" | "put" | "delete",
  path: string,
  opts: { body?: unknown; cookie?: string; bearer?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: unknown }> {
  const res = await call(path, { method: method.toUpperCase(), ...opts });
  const template = templateOf(method, path);
  exercised.add(`${method} ${template}`);
  const op = doc.paths[template]?.[method];
  const answer = op?.responses[String(res.status)];
  const text = await res.text();
  expect(answer, `${method} ${path} answered ${res.status} (${text.slice(0, 200)}), which is not documented`).toBeDefined();
  const type = res.headers.get("content-type") ?? "";
  let body: unknown;
  if (type.startsWith("application/json")) {
    body = JSON.parse(text);
    const schema = answer?.content?.["application/json"]?.schema;
    expect(schema, `${method} ${path} ${res.status}: JSON answer without a documented schema`).toBeDefined();
    const result = new Validator(schema as Json, "2020-12", false).validate(body);
    expect(
      result.errors.map((e) => `${e.instanceLocation}: ${e.error}`),
      `${method} ${path} ${res.status}: ${text}`,
    ).toEqual([]);
  } else if (text !== "") {
    expect(Object.keys(answer?.content ?? {}), `${method} ${path}: ${type} answer not documented`).toContain(type.split(";")[0]);
  }
  return { status: res.status, body };
}

beforeAll(async () => {
  const res = await call("/api/v1/openapi.json");
  expect(res.status).toBe(200);
  doc = (await res.json()) as typeof doc;
  adminCookie = await signInAdmin();
  const user = await createAccount(adminCookie);
  userCookie = user.cookie;
  token = (await createToken(userCookie)).token;
  worker = await connectTestWorker({
    capabilities: offering("echo", "terminalExec"),
    handler: (d, payload) => {
      if (d.capability === "echo") return { payload: { message: (payload as { message: string }).message } };
      const p = payload as TerminalExecPayload;
      return terminalReply(p.session_id, { stdout: `ran ${p.command}\n` });
    },
  });
  await worker.acked;
});

afterAll(async () => {
  worker.close();
  await worker.closed;
});

describe("GET /api/v1/openapi.json", () => {
  it("is public OpenAPI 3.1 with a JSON Schema for every JSON body", async () => {
    const res = await call("/api/v1/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(doc.openapi).toBe("3.1.0");
    const login = doc.paths["/api/v1/console/login"]?.post;
    // The request schema is the route's own: its fields and limits appear as written there.
    expect(login?.requestBody?.content["application/json"]?.schema).toMatchObject({
      type: "object",
      required: ["username", "password"],
      additionalProperties: false,
    });
  });

  it("lists every route the app serves, and nothing it does not", () => {
    const served = new Set(
      createApp()
        .routes.filter((r) => r.method !== "ALL")
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}").replace(/(.)\/$/, "$1")}`),
    );
    // The worker wire is a WebSocket for workers, not part of the client API.
    for (const key of [...served]) if (key.includes(" /rpc/")) served.delete(key);
    // GET /mcp is documented; DELETE/PUT/PATCH answer the same 405 and are not listed separately.
    for (const m of ["delete", "put", "patch"]) served.delete(`${m} /mcp`);
    const documentedRoutes = new Set(API_ROUTES.map((r) => `${r.method} ${r.path}`));
    expect([...served].sort()).toEqual([...documentedRoutes].sort());
  });
});

describe("real answers match the documented shapes", () => {
  it("meta", async () => {
    expect((await documented("get", "/healthz")).status).toBe(200);
    expect((await documented("get", "/api/v1/openapi.json")).status).toBe(200);
    expect((await documented("get", "/metrics")).status).toBe(404);
  });

  it("console sign-in, session, registration", async () => {
    const { username, password } = adminCredentials();
    expect((await documented("post", "/api/v1/console/login", { body: { username, password } })).status).toBe(200);
    expect((await documented("post", "/api/v1/console/login", { body: { username, password: "wrong-password" } })).status).toBe(
      401,
    );
    expect((await documented("post", "/api/v1/console/login", { body: { username } })).status).toBe(400);
    expect((await documented("get", "/api/v1/console/session", { cookie: userCookie })).status).toBe(200);
    expect((await documented("get", "/api/v1/console/session")).status).toBe(401);
    const name = uniqueName("reg");
    const reg = { username: name, password: "a-long-enough-password" };
    expect((await documented("post", "/api/v1/console/register", { cookie: adminCookie, body: reg })).status).toBe(201);
    expect((await documented("post", "/api/v1/console/register", { cookie: adminCookie, body: reg })).status).toBe(409);
    expect((await documented("post", "/api/v1/console/register", { cookie: userCookie, body: reg })).status).toBe(403);
    const throwaway = await createAccount(adminCookie);
    expect((await documented("post", "/api/v1/console/logout", { cookie: throwaway.cookie })).status).toBe(204);
  });

  it("tokens", async () => {
    const name = uniqueName("tok");
    const created = await documented("post", "/api/v1/console/tokens", { cookie: userCookie, body: { name } });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    expect((await documented("post", "/api/v1/console/tokens", { cookie: userCookie, body: { name } })).status).toBe(409);
    expect((await documented("get", "/api/v1/console/tokens", { cookie: userCookie })).status).toBe(200);
    expect((await documented("get", `/api/v1/console/tokens/${id}/value`, { cookie: userCookie })).status).toBe(410);
    expect((await documented("delete", `/api/v1/console/tokens/${id}`, { cookie: userCookie })).status).toBe(204);
    expect((await documented("delete", `/api/v1/console/tokens/${id}`, { cookie: userCookie })).status).toBe(404);
  });

  it("workers (admin)", async () => {
    const created = await documented("post", "/api/v1/workers", { cookie: adminCookie });
    expect(created.status).toBe(201);
    const nodeId = (created.body as { node_id: string }).node_id;
    expect((await documented("get", "/api/v1/workers?page=1&page_size=5", { cookie: adminCookie })).status).toBe(200);
    expect((await documented("get", "/api/v1/workers?page=abc", { cookie: adminCookie })).status).toBe(400);
    expect((await documented("get", "/api/v1/workers", { cookie: userCookie })).status).toBe(403);
    expect((await documented("get", "/api/v1/workers/stats", { cookie: adminCookie })).status).toBe(200);
    const inflight = await documented("get", "/api/v1/workers/inflight", { cookie: adminCookie });
    expect(inflight.status).toBe(200);
    expect(JSON.stringify(inflight.body)).toContain(worker.nodeId);
    expect((await documented("get", `/api/v1/workers/${nodeId}/startup-command`, { cookie: adminCookie })).status).toBe(410);
    expect((await documented("delete", `/api/v1/workers/${nodeId}`, { cookie: adminCookie })).status).toBe(204);
    expect((await documented("delete", `/api/v1/workers/${nodeId}`, { cookie: adminCookie })).status).toBe(404);
  });

  it("commands", async () => {
    expect((await documented("post", "/api/v1/commands/echo", { bearer: token, body: { message: "hi" } })).body).toEqual({
      message: "hi",
    });
    expect((await documented("post", "/api/v1/commands/echo", { body: { message: "hi" } })).status).toBe(401);
    expect((await documented("post", "/api/v1/commands/echo", { bearer: token, body: { message: 3 } })).status).toBe(400);
    const ran = await documented("post", "/api/v1/commands/terminal", { bearer: token, body: { command: "ls" } });
    expect(ran.status).toBe(200);
    expect(ran.body).toMatchObject({ stdout: "ran ls\n", exit_code: 0 });
    expect((await documented("post", "/api/v1/commands/terminal", { bearer: token, body: {} })).status).toBe(400);
  });

  it("tasks", async () => {
    const done = await documented("post", "/api/v1/tasks", {
      bearer: token,
      body: { capability: "echo", input: { message: "t" }, mode: "sync" },
    });
    expect(done.status).toBe(200);
    const id = (done.body as { task_id: string }).task_id;
    expect((await documented("get", `/api/v1/tasks/${id}`, { bearer: token })).status).toBe(200);
    expect((await documented("post", `/api/v1/tasks/${id}/cancel`, { bearer: token })).status).toBe(409);
    expect((await documented("get", "/api/v1/tasks/task_missing", { bearer: token })).status).toBe(404);
    expect((await documented("post", "/api/v1/tasks", { bearer: token, body: { capability: "nope", input: {} } })).status).toBe(
      400,
    );
    // No worker offers pythonExec here: the task fails at once with no_worker.
    const failed = await documented("post", "/api/v1/tasks", {
      bearer: token,
      body: { capability: "pythonExec", input: { code: "print(1)" }, mode: "sync" },
    });
    expect(failed.status).toBe(503);
    expect((await documented("get", "/api/v1/console/tasks?limit=5", { cookie: userCookie })).status).toBe(200);
    expect((await documented("get", "/api/v1/console/tasks?limit=0", { cookie: userCookie })).status).toBe(400);
    expect((await documented("get", "/api/v1/console/sessions", { cookie: userCookie })).status).toBe(200);
    expect((await documented("get", "/api/v1/tasks/task_missing/events", { bearer: token })).status).toBe(404);
  });

  it("sessions and files", async () => {
    const missing = "sess_missing";
    const files = `/api/v1/sessions/${missing}/files?path=a.txt`;
    expect((await documented("get", "/api/v1/sessions", { bearer: token })).status).toBe(200);
    expect((await documented("get", `/api/v1/sessions/${missing}`, { bearer: token })).status).toBe(404);
    expect((await documented("delete", `/api/v1/sessions/${missing}`, { bearer: token })).status).toBe(404);
    expect((await documented("delete", `/api/v1/console/sessions/${missing}`, { cookie: userCookie })).status).toBe(404);
    expect((await documented("put", files, { bearer: token, body: "hello" })).status).toBe(404);
    expect((await documented("get", files, { bearer: token })).status).toBe(404);
    expect((await documented("delete", files, { bearer: token })).status).toBe(404);
    expect((await documented("get", `/api/v1/sessions/${missing}/files/list`, { bearer: token })).status).toBe(404);
    expect((await documented("post", "/api/v1/sessions", { bearer: token, body: { lease_ttl_sec: 5 } })).status).toBe(400);
  });

  it("mcp", async () => {
    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
    };
    const headers = { accept: "application/json, text/event-stream" };
    expect((await documented("post", "/mcp", { bearer: token, body: init, headers })).status).toBe(200);
    expect((await documented("post", "/mcp", { body: init, headers })).status).toBe(401);
    expect((await documented("get", "/mcp", { bearer: token })).status).toBe(405);
  });

  it("every documented route was called", () => {
    expect([...exercised].sort()).toEqual(API_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });
});
