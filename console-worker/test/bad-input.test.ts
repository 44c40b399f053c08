import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AppEnv } from "../src/app-env.ts";
import type { Env } from "../src/env.ts";
import { AppError } from "../src/lib/errors.ts";
import { errorHandler } from "../src/middleware/error-handler.ts";
import { adminCredentials, callJson, countingBody, createAccount, newAccountWithToken, signInAdmin } from "./helpers.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

const MIB = 1024 * 1024;

describe("malformed bodies", () => {
  it.each([
    ["/api/v1/console/login", "{"],
    ["/api/v1/console/login", "username=admin&password=x"],
    ["/api/v1/console/register", '{"username": "a",}'],
    ["/api/v1/console/tokens", "not json"],
    ["/api/v1/workers", "{"],
  ])("%s answers 400 for %j", async (path, raw) => {
    const admin = await signInAdmin();
    const res = await callJson(path, {
      method: "POST",
      cookie: admin,
      body: raw,
      headers: { "content-type": "application/json" },
    });
    expect(res).toMatchObject({ status: 400, body: { error: "request body is not valid JSON", code: "invalid_argument" } });
  });

  it.each([
    ["an array", "[]"],
    ["a string", '"admin"'],
    ["null", "null"],
    ["a number", "42"],
  ])("answers 400 when the body is %s", async (_label, raw) => {
    const res = await callJson("/api/v1/console/login", {
      method: "POST",
      body: raw,
      headers: { "content-type": "application/json" },
    });
    expect(res).toMatchObject({ status: 400, body: { error: "request body must be a JSON object", code: "invalid_argument" } });
  });

  it.each([
    ["/api/v1/console/login", { username: ["admin"], password: "x" }, "username"],
    ["/api/v1/console/login", { username: "admin", password: true }, "password"],
    ["/api/v1/console/register", { username: { a: 1 }, password: "x" }, "username"],
    ["/api/v1/console/tokens", { name: "ok", token: 12345 }, "token"],
    ["/api/v1/console/tokens", { name: ["x"] }, "name"],
  ])("%s answers 400 naming the field for a wrong type: %j", async (path, body, field) => {
    const admin = await signInAdmin();
    const res = await callJson<{ error: string }>(path, { method: "POST", cookie: admin, body });
    expect(res.status).toBe(400);
    expect(res.body.error.startsWith(`${field}:`)).toBe(true);
  });

  it.each([
    ["/api/v1/console/login", { ...{ username: "admin", password: "x" }, admin: true }, "admin"],
    ["/api/v1/console/register", { username: "zed", password: "twelve-chars", is_admin: true }, "is_admin"],
    ["/api/v1/console/tokens", { name: "x", expires_at: "never" }, "expires_at"],
  ])("%s answers 400 for unknown fields", async (path, body, field) => {
    const admin = await signInAdmin();
    const res = await callJson(path, { method: "POST", cookie: admin, body });
    expect(res).toMatchObject({ status: 400, body: { error: `unknown field: ${field}`, code: "invalid_argument" } });
  });

  it("does not let register create an admin through an extra field", async () => {
    const admin = await signInAdmin();
    await callJson("/api/v1/console/register", {
      method: "POST",
      cookie: admin,
      body: { username: "sneaky", password: "x", is_admin: true },
    });
    const login = await callJson("/api/v1/console/login", { method: "POST", body: { username: "sneaky", password: "x" } });
    expect(login.status).toBe(401);
  });
});

describe("oversize bodies", () => {
  it("answers 413 for a body over 1 MiB and stores nothing", async () => {
    const user = await createAccount(await signInAdmin());
    const body = JSON.stringify({ name: "big", token: "x".repeat(MIB) });
    const res = await callJson<{ error: string }>("/api/v1/console/tokens", {
      method: "POST",
      cookie: user.cookie,
      body,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatch(/exceeds/);
    const list = await callJson<{ total: number }>("/api/v1/console/tokens", { cookie: user.cookie });
    expect(list.body.total).toBe(0);
  });

  it("answers 413 on login too, before parsing", async () => {
    const res = await callJson("/api/v1/console/login", {
      method: "POST",
      body: JSON.stringify({ username: "admin", password: "p".repeat(MIB + 10) }),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
  });

  it.each([
    ["/api/v1/console/login", "none"],
    ["/api/v1/console/register", "cookie"],
    ["/api/v1/console/tokens", "cookie"],
    ["/api/v1/commands/echo", "bearer"],
    ["/api/v1/tasks", "bearer"],
    ["/api/v1/commands/terminal", "bearer"],
  ] as const)("%s answers 413 to a streamed body without a length, and stops reading it", async (path, auth) => {
    const admin = await signInAdmin();
    const user = auth === "bearer" ? await newAccountWithToken() : undefined;
    const body = countingBody(32 * MIB);
    const res = await callJson<{ error: string }>(path, {
      method: "POST",
      body: body.stream,
      headers: { "content-type": "application/json" },
      ...(auth === "cookie" ? { cookie: admin } : {}),
      ...(user ? { bearer: user.token } : {}),
    });
    expect(res.status).toBe(413);
    expect(res.body.error).toBe(`request body exceeds ${MIB} bytes`);
    // Reading stopped near the limit instead of taking in all 32 MiB.
    expect(body.pulled()).toBeLessThan(8 * MIB);
  });

  it("a Connect call with a streamed body over the limit is refused, and reading stops", async () => {
    const user = await newAccountWithToken();
    const body = countingBody(32 * MIB);
    const res = await callJson<{ code: string; message: string }>("/api/connect/onlyboxes.api.v1.ExecService/ListFiles", {
      method: "POST",
      body: body.stream,
      headers: { "content-type": "application/json" },
      bearer: user.token,
    });
    // Connect's own answer for a message over readMaxBytes.
    expect(res.status).toBe(429);
    expect(res.body.code).toBe("resource_exhausted");
    expect(body.pulled()).toBeLessThan(8 * MIB);
  });
});

describe("cross-site requests to cookie routes", () => {
  it.each([
    ["a foreign Origin", { origin: "https://evil.example" }],
    ["a foreign Origin with the same host name on another port", { origin: "https://console.test:8443" }],
    ["Origin: null", { origin: "null" }],
    ["Sec-Fetch-Site: cross-site", { "sec-fetch-site": "cross-site" }],
    ["Sec-Fetch-Site: same-site", { "sec-fetch-site": "same-site", origin: "https://sub.console.test" }],
  ])("refuses %s with 403", async (_label, headers) => {
    const admin = await signInAdmin();
    for (const [path, body] of [
      ["/api/v1/console/tokens", { name: "csrf" }],
      ["/api/v1/workers", {}],
      ["/api/v1/console/logout", undefined],
    ] as const) {
      const res = await callJson(path, { method: "POST", cookie: admin, headers, ...(body ? { body } : {}) });
      expect(res).toMatchObject({ status: 403, body: { error: "cross-site request refused", code: "forbidden_origin" } });
    }
    // The refused logout did not end the session, and no token was created.
    const tokens = await callJson<{ total: number }>("/api/v1/console/tokens", { cookie: admin });
    expect(tokens.status).toBe(200);
    expect(tokens.body.total).toBe(0);
  });

  it("refuses a cross-site delete", async () => {
    const admin = await signInAdmin();
    const res = await callJson("/api/v1/console/tokens/tok_x", {
      method: "DELETE",
      cookie: admin,
      headers: { origin: "https://evil.example" },
    });
    expect(res.status).toBe(403);
  });

  // A login is the cookie route a cross-site form would aim at first.
  it.each<[string, Record<string, string>, Partial<Env> | undefined, number]>([
    ["refuses a cross-site login", { origin: "https://evil.example", "sec-fetch-site": "cross-site" }, undefined, 403],
    ["allows a same-origin browser request", { origin: "https://console.test", "sec-fetch-site": "same-origin" }, undefined, 200],
    ["allows Origin only", { origin: "https://console.test" }, undefined, 200],
    ["allows a non-browser client (no Origin)", {}, undefined, 200],
    ["allows a user-initiated navigation", { "sec-fetch-site": "none" }, undefined, 200],
    [
      "allows the CONSOLE_PUBLIC_URL origin behind a proxy",
      { origin: "https://boxes.example.com" },
      { CONSOLE_PUBLIC_URL: "https://boxes.example.com" },
      200,
    ],
    [
      "allows the origin a reverse proxy names in X-Forwarded-Host",
      { origin: "https://boxes.internal.example", "x-forwarded-host": "boxes.internal.example" },
      undefined,
      200,
    ],
  ])("login: %s", async (_label, headers, env, status) => {
    const res = await callJson("/api/v1/console/login", { method: "POST", body: adminCredentials(), headers, env });
    expect(res.status).toBe(status);
  });

  it("lets cross-site reads through to the session check (GET changes nothing)", async () => {
    const res = await callJson("/api/v1/console/session", { headers: { "sec-fetch-site": "cross-site" } });
    expect(res.status).toBe(401);
  });

  it.each(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])(
    "answers 415 for a %s body",
    async (type) => {
      const res = await callJson("/api/v1/console/login", {
        method: "POST",
        body: JSON.stringify(adminCredentials()),
        headers: { "content-type": type },
      });
      expect(res).toMatchObject({
        status: 415,
        body: { error: "content-type must be application/json", code: "unsupported_media_type" },
      });
    },
  );

  it("accepts application/json with a charset", async () => {
    const res = await callJson("/api/v1/console/login", {
      method: "POST",
      body: JSON.stringify(adminCredentials()),
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expect(res.status).toBe(200);
  });
});

describe("unknown routes", () => {
  it.each([
    ["GET", "/api/v1/console/nope"],
    ["PUT", "/api/v1/console/tokens"],
    ["GET", "/api/v2/anything"],
  ])("%s %s answers 404 with an error body", async (method, path) => {
    const admin = await signInAdmin();
    const res = await callJson(path, { method, cookie: admin });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "not found", code: "not_found" });
  });
});

describe("errorHandler", () => {
  function app(): Hono<AppEnv> {
    const a = new Hono<AppEnv>();
    a.onError(errorHandler);
    a.get("/app-error", () => {
      throw new AppError("session_busy", "session is busy");
    });
    a.get("/http-exception", () => {
      throw new HTTPException(418, { message: "short and stout" });
    });
    a.get("/http-413", () => {
      throw new HTTPException(413, { message: "too big" });
    });
    a.get("/crash", () => {
      const err = new Error("Failed query: insert into tokens values (?)\nparams: obx_secret_value");
      err.cause = new Error("D1_ERROR: disk I/O\nparams: more-secret");
      throw err;
    });
    return a;
  }

  it("maps an AppError to its status and message", async () => {
    const res = await app().request("/app-error");
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ error: "session is busy", code: "session_busy" });
  });

  it("maps an HTTPException to its status, and the registry code of that status", async () => {
    const res = await app().request("/http-exception");
    expect(res.status).toBe(418);
    // 418 stands for no code of the registry.
    expect(await res.json()).toEqual({ error: "short and stout", code: "internal" });
    const tooLarge = await app().request("/http-413");
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toEqual({ error: "too big", code: "payload_too_large" });
  });

  it("answers 500 'internal error' to anything else and logs one JSON line without secrets", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await app().request("/crash");
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: "internal error", code: "internal" });
    expect(errors).toHaveBeenCalledTimes(1);
    const line = String(errors.mock.calls[0]?.[0]);
    const logged = JSON.parse(line) as Record<string, unknown>;
    expect(logged).toMatchObject({ level: "error", msg: "unhandled error", method: "GET", path: "/crash" });
    expect(line).toContain("disk I/O");
    expect(line).not.toContain("secret");
  });
});
