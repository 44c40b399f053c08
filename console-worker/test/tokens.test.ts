import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { hmacHex } from "../src/lib/crypto.ts";
import { type CreatedToken, call, callJson, createAccount, createToken, signInAdmin, uniqueName } from "./helpers.ts";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

interface TokenList {
  items: Array<{ id: string; name: string; token_masked: string; created_at: string; updated_at: string }>;
  total: number;
}

function echo(bearer: string | undefined): Promise<Response> {
  return call("/api/v1/commands/echo", {
    method: "POST",
    body: { message: "hi", timeout_ms: 50 },
    ...(bearer === undefined ? {} : { bearer }),
  });
}

// First in the file, while the database holds no token at all.
describe("bearer routes with no token configured", () => {
  it("answer 401 to any bearer", async () => {
    const res = await echo("obx_0123456789abcdef");
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "invalid token", code: "unauthenticated" });
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });
});

describe("POST /api/v1/console/tokens", () => {
  it("generates an obx_ token, shows it once, stores only its HMAC", async () => {
    const user = await createAccount(await signInAdmin());
    const res = await callJson<CreatedToken>("/api/v1/console/tokens", {
      method: "POST",
      cookie: user.cookie,
      body: { name: "  ci runner  " },
    });
    expect(res.status).toBe(201);
    const t = res.body;
    expect(t).toEqual({
      id: expect.stringMatching(/^tok_/),
      name: "ci runner",
      token: expect.stringMatching(/^obx_[0-9a-f]{48}$/),
      token_masked: `obx_…${t.token.slice(-4)}`,
      generated: true,
      created_at: expect.stringMatching(RFC3339),
      updated_at: expect.stringMatching(RFC3339),
    });
    const row = await env.DB.prepare("SELECT * FROM tokens WHERE id = ?").bind(t.id).first<Record<string, unknown>>();
    expect(row?.token_hash).toBe(await hmacHex(env.CONSOLE_HASH_KEY ?? "", t.token));
    expect(JSON.stringify(row)).not.toContain(t.token);
  });

  it("accepts a chosen token value", async () => {
    const user = await createAccount(await signInAdmin());
    const value = `my-own-token-of-24-chars-${uniqueName()}`;
    const t = await createToken(user.cookie, "manual", value);
    expect(t.token).toBe(value);
    expect(t.generated).toBe(false);
    expect(t.token_masked).toBe(`${value.slice(0, 4)}…${value.slice(-4)}`);
    expect((await echo(value)).status).not.toBe(401);
  });

  it("accepts a chosen value of exactly 24 characters and masks all but 8 of its characters", async () => {
    const user = await createAccount(await signInAdmin());
    const value = `${uniqueName("v")}`.padEnd(24, "z");
    const t = await createToken(user.cookie, "short", value);
    expect(t.token).toBe(value);
    const shown = t.token_masked.replace("…", "");
    expect(shown.length).toBeLessThanOrEqual(8);
    const list = await callJson<{ items: { token_masked: string }[] }>("/api/v1/console/tokens", { cookie: user.cookie });
    expect(list.body.items.map((i) => i.token_masked)).toEqual([t.token_masked]);
  });

  it("answers 409 for a name the account already uses, in any case", async () => {
    const user = await createAccount(await signInAdmin());
    await createToken(user.cookie, "Deploy");
    const res = await callJson("/api/v1/console/tokens", { method: "POST", cookie: user.cookie, body: { name: " deploy" } });
    expect(res).toMatchObject({ status: 409, body: { error: "token name already exists", code: "conflict" } });
    // Another account may use the same name.
    const other = await createAccount(await signInAdmin());
    expect((await createToken(other.cookie, "deploy")).name).toBe("deploy");
  });

  it("answers 409 for a token value already in use, even by another account", async () => {
    const admin = await signInAdmin();
    const a = await createAccount(admin);
    const b = await createAccount(admin);
    const value = `shared-token-value-${uniqueName()}`;
    await createToken(a.cookie, "one", value);
    const res = await callJson("/api/v1/console/tokens", {
      method: "POST",
      cookie: b.cookie,
      body: { name: "two", token: value },
    });
    expect(res).toMatchObject({ status: 409, body: { error: "token value already in use", code: "conflict" } });
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM tokens WHERE account_id = ?")
      .bind(b.accountId)
      .first<{ n: number }>();
    expect(rows?.n).toBe(0);
  });

  it.each([
    ["no name", {}, "name"],
    ["an empty name", { name: "" }, "name"],
    ["a blank name", { name: "   " }, "name"],
    ["a name over 64 characters", { name: "n".repeat(65) }, "name"],
    ["a number for name", { name: 5 }, "name"],
    ["a token with whitespace", { name: "x", token: "abc def" }, "token"],
    ["a token with a newline", { name: "x", token: "abc\ndef" }, "token"],
    ["an empty token", { name: "x", token: "" }, "token"],
    ["a token of 23 characters", { name: "x", token: "t".repeat(23) }, "token: at least 24 characters"],
    ["a token over 256 characters", { name: "x", token: "t".repeat(257) }, "token"],
    ["a null token", { name: "x", token: null }, "token"],
    ["an unknown field", { name: "x", scopes: ["all"] }, "unknown field: scopes"],
  ])("answers 400 for %s and stores nothing", async (_label, body, message) => {
    const user = await createAccount(await signInAdmin());
    const res = await callJson<{ error: string }>("/api/v1/console/tokens", { method: "POST", cookie: user.cookie, body });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain(message);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM tokens WHERE account_id = ?")
      .bind(user.accountId)
      .first<{ n: number }>();
    expect(rows?.n).toBe(0);
  });

  it("accepts a 64-character name and a 256-character token", async () => {
    const user = await createAccount(await signInAdmin());
    const t = await createToken(user.cookie, "n".repeat(64), `v${uniqueName()}`.padEnd(256, "v"));
    expect(t.name).toHaveLength(64);
  });

  it("answers 401 when not signed in", async () => {
    expect((await callJson("/api/v1/console/tokens", { method: "POST", body: { name: "x" } })).status).toBe(401);
  });
});

describe("GET /api/v1/console/tokens", () => {
  it("lists only the account's own tokens, without values", async () => {
    const admin = await signInAdmin();
    const user = await createAccount(admin);
    const other = await createAccount(admin);
    const first = await createToken(user.cookie, "first");
    const second = await createToken(user.cookie, "second");
    await createToken(other.cookie, "not mine");

    const res = await callJson<TokenList>("/api/v1/console/tokens", { cookie: user.cookie });
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(2);
    expect(res.body.items.map((t) => t.name).sort()).toEqual(["first", "second"]);
    const byId = new Map(res.body.items.map((t) => [t.id, t]));
    expect(byId.get(first.id)).toEqual({
      id: first.id,
      name: "first",
      token_masked: first.token_masked,
      created_at: first.created_at,
      updated_at: first.updated_at,
    });
    expect(byId.has(second.id)).toBe(true);
    expect(JSON.stringify(res.body)).not.toContain(first.token);
  });

  it("is empty for a new account and 401 when not signed in", async () => {
    const user = await createAccount(await signInAdmin());
    expect((await callJson("/api/v1/console/tokens", { cookie: user.cookie })).body).toEqual({ items: [], total: 0 });
    expect((await callJson("/api/v1/console/tokens")).status).toBe(401);
  });
});

describe("DELETE /api/v1/console/tokens/:id", () => {
  it("deletes the token: 204, the row is gone and the bearer stops working", async () => {
    const user = await createAccount(await signInAdmin());
    const t = await createToken(user.cookie);
    expect((await echo(t.token)).status).not.toBe(401);

    const res = await call(`/api/v1/console/tokens/${t.id}`, { method: "DELETE", cookie: user.cookie });
    expect(res.status).toBe(204);
    expect(await env.DB.prepare("SELECT 1 FROM tokens WHERE id = ?").bind(t.id).first()).toBeNull();

    const after = await echo(t.token);
    expect(after.status).toBe(401);
    expect(await after.json()).toEqual({ error: "invalid token", code: "unauthenticated" });
    expect((await call(`/api/v1/console/tokens/${t.id}`, { method: "DELETE", cookie: user.cookie })).status).toBe(404);
  });

  it("answers 404 for another account's token and leaves it alone", async () => {
    const admin = await signInAdmin();
    const owner = await createAccount(admin);
    const intruder = await createAccount(admin);
    const t = await createToken(owner.cookie);
    const res = await callJson(`/api/v1/console/tokens/${t.id}`, { method: "DELETE", cookie: intruder.cookie });
    expect(res).toMatchObject({ status: 404, body: { error: "token not found", code: "not_found" } });
    // Not even the admin can delete someone else's token through this route.
    expect((await call(`/api/v1/console/tokens/${t.id}`, { method: "DELETE", cookie: admin })).status).toBe(404);
    expect(await env.DB.prepare("SELECT 1 FROM tokens WHERE id = ?").bind(t.id).first()).not.toBeNull();
    expect((await echo(t.token)).status).not.toBe(401);
  });

  it("answers 404 for an unknown id and 401 when not signed in", async () => {
    const user = await createAccount(await signInAdmin());
    expect((await call("/api/v1/console/tokens/tok_nope", { method: "DELETE", cookie: user.cookie })).status).toBe(404);
    expect((await call("/api/v1/console/tokens/tok_nope", { method: "DELETE" })).status).toBe(401);
  });
});

describe("GET /api/v1/console/tokens/:id/value", () => {
  it("always answers 410 with an explanation", async () => {
    const user = await createAccount(await signInAdmin());
    const t = await createToken(user.cookie);
    for (const id of [t.id, "tok_unknown"]) {
      const res = await callJson<{ error: string }>(`/api/v1/console/tokens/${id}/value`, { cookie: user.cookie });
      expect(res.status).toBe(410);
      expect(res.body.error).toMatch(/only once/);
      expect(JSON.stringify(res.body)).not.toContain(t.token);
    }
  });
});

describe("bearer authentication", () => {
  it.each([
    ["no Authorization header", {}, "missing bearer token"],
    ["a Basic header", { authorization: "Basic YWRtaW46eA==" }, "authorization header must be 'Bearer <token>'"],
    ["an empty Bearer", { authorization: "Bearer " }, "authorization header must be 'Bearer <token>'"],
    ["an unknown token", { authorization: "Bearer obx_ffffffffffffffff" }, "invalid token"],
  ])("answers 401 for %s", async (_label, headers, message) => {
    const res = await callJson("/api/v1/commands/echo", { method: "POST", body: { message: "hi" }, headers });
    expect(res).toMatchObject({ status: 401, body: { error: message, code: "unauthenticated" } });
  });

  it("accepts a valid token with the scheme in any case", async () => {
    const user = await createAccount(await signInAdmin());
    const t = await createToken(user.cookie);
    const res = await call("/api/v1/commands/echo", {
      method: "POST",
      body: { message: "hi", timeout_ms: 50 },
      headers: { authorization: `bearer ${t.token}` },
    });
    expect(res.status).not.toBe(401);
  });

  it("does not accept a session cookie in place of a token", async () => {
    const admin = await signInAdmin();
    const res = await call("/api/v1/commands/echo", { method: "POST", cookie: admin, body: { message: "hi" } });
    expect(res.status).toBe(401);
  });
});
