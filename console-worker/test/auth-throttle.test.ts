import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env.ts";
import { call, callJson, createAccount, createToken, signInAdmin, uniqueName } from "./helpers.ts";

/** Small limits and a short window, so lockout and recovery fit in a test. */
const WINDOW_SEC = 2;
const LIMITS: Partial<Env> = {
  CONSOLE_AUTH_FAILURES_PER_USER: "3",
  CONSOLE_AUTH_FAILURES_PER_ADDRESS: "6",
  CONSOLE_AUTH_FAILURE_WINDOW_SEC: String(WINDOW_SEC),
};

let addressCounter = 0;
/** A client address no other test uses (each test gets its own throttle buckets). */
function freshAddress(): string {
  addressCounter += 1;
  return `198.51.100.${addressCounter}`;
}

function login(username: string, password: string, address: string, extraEnv: Partial<Env> = LIMITS) {
  return callJson<{ error?: string; code?: string }>("/api/v1/console/login", {
    method: "POST",
    body: { username, password },
    headers: { "cf-connecting-ip": address },
    env: extraEnv,
  });
}

function echo(token: string, address: string) {
  return call("/api/v1/commands/echo", {
    method: "POST",
    bearer: token,
    body: { message: "hi" },
    headers: { "cf-connecting-ip": address },
    env: LIMITS,
  });
}

/** Polls `check` until it answers true; fails after `timeoutMs`. */
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - started;
}

describe("failed sign-ins", () => {
  it("locks a username after N failures (429 + Retry-After, right password too), then recovers after the window", async () => {
    const admin = await signInAdmin();
    const user = await createAccount(admin);
    const other = await createAccount(admin);
    const address = freshAddress();

    for (let i = 0; i < 3; i++) {
      expect((await login(user.username, "wrong-password", address)).status).toBe(401);
    }
    const locked = await login(user.username, "wrong-password", address);
    expect(locked.status).toBe(429);
    const retryAfter = Number(locked.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_SEC);
    expect(locked.body.error).toMatch(/too many failed sign-in attempts/);
    expect(locked.body.code).toBe("login_throttled");

    // The right password during the lockout gets the same answer: nothing tells it apart.
    const right = await login(user.username, user.password, freshAddress());
    expect(right.status).toBe(429);
    expect(right.headers.get("set-cookie")).toBeNull();
    // Another user, even from the same address, is not affected.
    expect((await login(other.username, other.password, address)).status).toBe(200);

    // After the window the right password works again (and clears the count).
    const waited = await until(async () => (await login(user.username, user.password, address)).status === 200, 10_000);
    expect(waited).toBeLessThanOrEqual((WINDOW_SEC + 3) * 1000);
    expect((await login(user.username, "wrong-password", address)).status).toBe(401);
  });

  it("counts unknown usernames the same way, so a lockout tells nothing about which names exist", async () => {
    const name = uniqueName("ghost");
    const address = freshAddress();
    for (let i = 0; i < 3; i++) expect((await login(name, "wrong-password", address)).status).toBe(401);
    expect((await login(name, "wrong-password", address)).status).toBe(429);
  });

  it("limits failures per client address across usernames; other addresses are unaffected", async () => {
    const admin = await signInAdmin();
    const user = await createAccount(admin);
    const address = freshAddress();
    // Six different usernames, one failure each: under every per-user limit, at the address limit.
    for (let i = 0; i < 6; i++) {
      expect((await login(uniqueName("spray"), "wrong-password", address)).status).toBe(401);
    }
    const locked = await login(user.username, user.password, address);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await login(user.username, user.password, freshAddress())).status).toBe(200);
  });

  it("lets only the limit of parallel guesses through, not all of them", async () => {
    const user = await createAccount(await signInAdmin());
    const address = freshAddress();
    const results = await Promise.all(Array.from({ length: 8 }, () => login(user.username, "wrong-password", address)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
  });
});

describe("failed bearer authentications", () => {
  it("answer 429 with Retry-After past the address limit, even for a valid token; other addresses pass", async () => {
    const user = await createAccount(await signInAdmin());
    // Never used before, so no isolate remembers it as valid.
    const { token } = await createToken(user.cookie);
    const address = freshAddress();
    for (let i = 0; i < 6; i++) {
      expect((await echo(`obx_guess_${i}_${"0".repeat(24)}`, address)).status).toBe(401);
    }
    const locked = await echo(`obx_guess_x_${"0".repeat(24)}`, address);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await echo(token, address)).status).toBe(429);
    expect((await echo(token, freshAddress())).status).not.toBe(429);
  });
});

describe("password hashes", () => {
  it("are redone with the configured iteration count at the next successful sign-in", async () => {
    const user = await createAccount(await signInAdmin());
    const before = await env.DB.prepare("SELECT password_hash, password_iterations FROM accounts WHERE id = ?")
      .bind(user.accountId)
      .first<{ password_hash: string; password_iterations: number }>();
    expect(before?.password_iterations).toBe(Number(env.CONSOLE_PASSWORD_ITERATIONS));

    const stronger = { CONSOLE_PASSWORD_ITERATIONS: "2000" };
    expect((await login(user.username, user.password, freshAddress(), stronger)).status).toBe(200);
    const after = await env.DB.prepare("SELECT password_hash, password_iterations FROM accounts WHERE id = ?")
      .bind(user.accountId)
      .first<{ password_hash: string; password_iterations: number }>();
    expect(after?.password_iterations).toBe(2000);
    expect(after?.password_hash).not.toBe(before?.password_hash);
    // The same password still signs in, under either setting; a wrong one still fails.
    expect((await login(user.username, user.password, freshAddress(), stronger)).status).toBe(200);
    expect((await login(user.username, "not-the-password", freshAddress(), stronger)).status).toBe(401);
  });
});
