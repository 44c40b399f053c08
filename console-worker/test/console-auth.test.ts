import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bootstrapAdmin } from "../src/lib/bootstrap.ts";
import { hmacHex } from "../src/lib/crypto.ts";
import {
  adminCredentials,
  call,
  callJson,
  createAccount,
  sessionCookieFrom,
  signIn,
  signInAdmin,
  uniqueName,
} from "./helpers.ts";

interface SessionBody {
  authenticated: boolean;
  account: { account_id: string; username: string; is_admin: boolean };
  registration_enabled: boolean;
  console_version: string;
  console_repo_url: string;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("POST /api/v1/console/login", () => {
  it("signs the first admin in and sets the session cookie", async () => {
    const { username, password } = adminCredentials();
    const res = await call("/api/v1/console/login", { method: "POST", body: { username, password } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as SessionBody;
    expect(body).toEqual({
      authenticated: true,
      account: { account_id: expect.stringMatching(/^acc_/), username, is_admin: true },
      registration_enabled: true,
      console_version: expect.any(String),
      console_repo_url: "https://github.com/onlyboxes/onlyboxes-workerd",
    });
    const setCookie = res.headers.getSetCookie().join("\n");
    expect(setCookie).toMatch(/^onlyboxes_console_session=[0-9a-f]{64}/);
    expect(setCookie).toMatch(/Max-Age=43200/);
    expect(setCookie).toMatch(/Path=\//);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).toMatch(/Secure/);
  });

  it("omits Secure on plain http", async () => {
    const { username, password } = adminCredentials();
    const res = await call("http://console.test/api/v1/console/login", { method: "POST", body: { username, password } });
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie().join("\n")).not.toMatch(/Secure/);
  });

  it("sets Secure behind a TLS-terminating proxy", async () => {
    const { username, password } = adminCredentials();
    const res = await call("http://console.test/api/v1/console/login", {
      method: "POST",
      body: { username, password },
      headers: { "x-forwarded-proto": "https" },
    });
    expect(res.headers.getSetCookie().join("\n")).toMatch(/Secure/);
  });

  it("stores only the HMAC of the session id and a hashed password", async () => {
    const cookie = await signInAdmin();
    const sessionId = cookie.split("=")[1] ?? "";
    const stored = await env.DB.prepare("SELECT id_hash FROM dashboard_sessions").all<{ id_hash: string }>();
    const hashes = stored.results.map((r) => r.id_hash);
    expect(hashes).not.toContain(sessionId);
    expect(hashes).toContain(await hmacHex(env.CONSOLE_HASH_KEY ?? "", sessionId));

    const admin = await env.DB.prepare("SELECT * FROM accounts WHERE username_key = 'admin'").first<Record<string, unknown>>();
    expect(admin?.password_iterations).toBe(1000);
    expect(JSON.stringify(admin)).not.toContain(adminCredentials().password);
  });

  it("accepts the username in any case", async () => {
    const { username, password } = adminCredentials();
    const res = await callJson<SessionBody>("/api/v1/console/login", {
      method: "POST",
      body: { username: username.toUpperCase(), password },
    });
    expect(res.status).toBe(200);
    expect(res.body.account.username).toBe(username);
  });

  it.each([
    ["wrong password", { username: "admin", password: "nope" }],
    ["unknown user", { username: "nobody-here", password: "whatever" }],
  ])("answers 401 for a %s and sets no cookie", async (_label, body) => {
    const res = await call("/api/v1/console/login", { method: "POST", body });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "invalid username or password", code: "unauthenticated" });
    expect(sessionCookieFrom(res)).toBeUndefined();
  });

  it.each([
    ["not JSON", "{username:", "request body is not valid JSON"],
    ["no password", JSON.stringify({ username: "admin" }), "password"],
    ["empty username", JSON.stringify({ username: "", password: "x" }), "username"],
    ["a number for username", JSON.stringify({ username: 7, password: "x" }), "username"],
    ["an unknown field", JSON.stringify({ username: "admin", password: "x", remember: true }), "unknown field: remember"],
  ])("answers 400 for %s", async (_label, raw, message) => {
    const res = await callJson<{ error: string }>("/api/v1/console/login", {
      method: "POST",
      body: raw,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain(message);
  });
});

describe("GET /api/v1/console/session", () => {
  it("answers 401 without a cookie or with an unknown one", async () => {
    expect((await callJson("/api/v1/console/session")).status).toBe(401);
    const res = await callJson("/api/v1/console/session", { cookie: "onlyboxes_console_session=deadbeef" });
    expect(res).toMatchObject({ status: 401, body: { error: "not signed in", code: "unauthenticated" } });
  });

  it("returns the same body as login", async () => {
    const { username, password } = adminCredentials();
    const login = await call("/api/v1/console/login", { method: "POST", body: { username, password } });
    const loginBody = await login.json();
    const cookie = sessionCookieFrom(login) ?? "";
    const res = await callJson("/api/v1/console/session", { cookie });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(loginBody);
  });

  it("answers 401 once the session has expired", async () => {
    const cookie = await signInAdmin();
    const idHash = await hmacHex(env.CONSOLE_HASH_KEY ?? "", cookie.split("=")[1] ?? "");
    await env.DB.prepare("UPDATE dashboard_sessions SET expires_at = ? WHERE id_hash = ?")
      .bind(Date.now() - 1, idHash)
      .run();
    expect((await callJson("/api/v1/console/session", { cookie })).status).toBe(401);
  });

  it("reports registration_enabled from the config", async () => {
    const cookie = await signInAdmin();
    const res = await callJson<SessionBody>("/api/v1/console/session", {
      cookie,
      env: { CONSOLE_ENABLE_REGISTRATION: "false" },
    });
    expect(res.body.registration_enabled).toBe(false);
  });
});

describe("POST /api/v1/console/logout", () => {
  it("answers 204, clears the cookie and ends the session", async () => {
    const cookie = await signInAdmin();
    const res = await call("/api/v1/console/logout", { method: "POST", cookie });
    expect(res.status).toBe(204);
    expect(res.headers.getSetCookie().join("\n")).toMatch(/onlyboxes_console_session=;.*Max-Age=0/);
    expect((await callJson("/api/v1/console/session", { cookie })).status).toBe(401);
    const idHash = await hmacHex(env.CONSOLE_HASH_KEY ?? "", cookie.split("=")[1] ?? "");
    const row = await env.DB.prepare("SELECT 1 FROM dashboard_sessions WHERE id_hash = ?").bind(idHash).first();
    expect(row).toBeNull();
  });

  it("answers 204 even when not signed in", async () => {
    expect((await call("/api/v1/console/logout", { method: "POST" })).status).toBe(204);
  });
});

describe("POST /api/v1/console/register", () => {
  it("creates a non-admin account that can sign in", async () => {
    const admin = await signInAdmin();
    const username = uniqueName("Alice");
    const res = await callJson<{ account: SessionBody["account"]; created_at: string; updated_at: string }>(
      "/api/v1/console/register",
      { method: "POST", cookie: admin, body: { username: `  ${username} `, password: "s3cret-passphrase" } },
    );
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      account: { account_id: expect.stringMatching(/^acc_/), username, is_admin: false },
      created_at: expect.stringMatching(RFC3339),
      updated_at: expect.stringMatching(RFC3339),
    });
    const cookie = await signIn(username, "s3cret-passphrase");
    const session = await callJson<SessionBody>("/api/v1/console/session", { cookie });
    expect(session.body.account).toEqual(res.body.account);
  });

  it("answers 409 for a username taken in any case", async () => {
    const admin = await signInAdmin();
    const username = uniqueName("bob");
    await createAccount(admin, username);
    const res = await callJson("/api/v1/console/register", {
      method: "POST",
      cookie: admin,
      body: { username: username.toUpperCase(), password: "long-enough-password" },
    });
    expect(res).toMatchObject({ status: 409, body: { error: "username already exists", code: "conflict" } });
    const again = await callJson("/api/v1/console/register", {
      method: "POST",
      cookie: admin,
      body: { username: "ADMIN", password: "long-enough-password" },
    });
    expect(again.status).toBe(409);
  });

  it.each([
    ["an empty username", { username: "", password: "x" }],
    ["a blank username", { username: "   ", password: "x" }],
    ["a username over 64 characters", { username: "u".repeat(65), password: "x" }],
    ["an empty password", { username: "carol", password: "" }],
    ["a password of 11 characters", { username: "carol", password: "elevenchars" }],
    ["a missing password", { username: "carol" }],
  ])("answers 400 for %s and creates nothing", async (_label, body) => {
    const admin = await signInAdmin();
    const before = await env.DB.prepare("SELECT count(*) AS n FROM accounts").first<{ n: number }>();
    const res = await callJson<{ error: string }>("/api/v1/console/register", { method: "POST", cookie: admin, body });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/username|password/);
    const after = await env.DB.prepare("SELECT count(*) AS n FROM accounts").first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });

  it("accepts a username of exactly 64 characters", async () => {
    const admin = await signInAdmin();
    const username = `x${uniqueName()}`.padEnd(64, "x");
    const res = await callJson("/api/v1/console/register", {
      method: "POST",
      cookie: admin,
      body: { username, password: "p".repeat(12) },
    });
    expect(res.status).toBe(201);
  });

  it("answers 403 for a signed-in non-admin", async () => {
    const user = await createAccount(await signInAdmin());
    const res = await callJson("/api/v1/console/register", {
      method: "POST",
      cookie: user.cookie,
      body: { username: uniqueName(), password: "x" },
    });
    expect(res).toMatchObject({ status: 403, body: { error: "admin privileges required", code: "forbidden" } });
  });

  it("answers 403 when registration is disabled, even for the admin", async () => {
    const admin = await signInAdmin();
    const username = uniqueName("dave");
    const res = await callJson("/api/v1/console/register", {
      method: "POST",
      cookie: admin,
      body: { username, password: "x" },
      env: { CONSOLE_ENABLE_REGISTRATION: "false" },
    });
    expect(res).toMatchObject({ status: 403, body: { error: "registration is disabled", code: "forbidden" } });
    const row = await env.DB.prepare("SELECT 1 FROM accounts WHERE username_key = ?").bind(username.toLowerCase()).first();
    expect(row).toBeNull();
  });

  it("answers 401 when not signed in", async () => {
    const res = await callJson("/api/v1/console/register", { method: "POST", body: { username: "x", password: "y" } });
    expect(res.status).toBe(401);
  });
});

describe("configuration", () => {
  it("answers 500 naming CONSOLE_HASH_KEY when it is missing, and logs it", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await callJson<{ error: string }>("/api/v1/console/login", {
      method: "POST",
      body: adminCredentials(),
      env: { CONSOLE_HASH_KEY: undefined },
    });
    expect(res.status).toBe(500);
    expect(res.body.error).toContain("CONSOLE_HASH_KEY");
    expect(errors.mock.calls.flat().join("\n")).toContain("CONSOLE_HASH_KEY");

    const echo = await callJson<{ error: string }>("/api/v1/commands/echo", {
      method: "POST",
      bearer: "obx_whatever",
      body: { message: "hi" },
      env: { CONSOLE_HASH_KEY: "" },
    });
    expect(echo.status).toBe(500);
    expect(echo.body.error).toContain("CONSOLE_HASH_KEY");
  });

  it("answers 500 naming a malformed variable", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await callJson<{ error: string }>("/api/v1/console/login", {
      method: "POST",
      body: adminCredentials(),
      env: { CONSOLE_ENABLE_REGISTRATION: "maybe" },
    });
    expect(res.status).toBe(500);
    expect(res.body.error).toContain("CONSOLE_ENABLE_REGISTRATION");
  });
});

// Runs last: it empties the accounts table to replay a first start, then puts the admin back.
describe("first-start admin", () => {
  it("creates one admin with a generated password, logged once, and ignores the variables later", async () => {
    await env.DB.prepare("DELETE FROM accounts").run();
    const logs = vi.spyOn(console, "log").mockImplementation(() => {});
    const bare = { ...env, CONSOLE_DASHBOARD_USERNAME: undefined, CONSOLE_DASHBOARD_PASSWORD: undefined };

    // Two isolates starting at once: exactly one creates the admin.
    const results = await Promise.all([bootstrapAdmin(bare), bootstrapAdmin({ ...bare })]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const accounts = await env.DB.prepare("SELECT username, is_admin FROM accounts").all<{
      username: string;
      is_admin: number;
    }>();
    expect(accounts.results).toHaveLength(1);
    expect(accounts.results[0]?.is_admin).toBe(1);

    const lines = logs.mock.calls.map((args) => args.join(" ")).filter((l) => l.includes("password="));
    expect(lines).toHaveLength(1);
    const m = /username=(\S+) password=(\S+)/.exec(lines[0] ?? "");
    expect(m?.[1]).toBe(accounts.results[0]?.username);
    const cookie = await signIn(m?.[1] ?? "", m?.[2] ?? "");
    const session = await callJson<SessionBody>("/api/v1/console/session", { cookie });
    expect(session.body.account.is_admin).toBe(true);

    // A later start changes nothing and logs no password.
    logs.mockClear();
    expect(await bootstrapAdmin(env)).toBe(false);
    expect(logs).not.toHaveBeenCalled();

    // Put the configured admin back for any test that follows.
    await env.DB.prepare("DELETE FROM accounts").run();
    expect(await bootstrapAdmin(env)).toBe(true);
    expect(logs.mock.calls.flat().join(" ")).not.toContain(adminCredentials().password);
  });

  it("refuses to create the first admin with a CONSOLE_DASHBOARD_PASSWORD under 12 characters", async () => {
    await env.DB.prepare("DELETE FROM accounts").run();
    const short = { ...env, CONSOLE_DASHBOARD_PASSWORD: "elevenchars" };
    await expect(bootstrapAdmin(short)).rejects.toThrow(/CONSOLE_DASHBOARD_PASSWORD must be at least 12 characters/);
    const n = await env.DB.prepare("SELECT count(*) AS n FROM accounts").first<{ n: number }>();
    expect(n?.n).toBe(0);
    // Twelve is enough; put the configured admin back afterwards.
    expect(await bootstrapAdmin({ ...env, CONSOLE_DASHBOARD_PASSWORD: "twelve-chars" })).toBe(true);
    await env.DB.prepare("DELETE FROM accounts").run();
    vi.spyOn(console, "log").mockImplementation(() => {});
    expect(await bootstrapAdmin(env)).toBe(true);
  });
});
