import { type Context, Hono } from "hono";
import { z } from "zod/v4";
import type { AppEnv, AuthAccount } from "../app-env.ts";
import { findAccountByUsername, insertAccount, toAuthAccount, updatePasswordHash } from "../db/accounts.ts";
import { getDb } from "../db/client.ts";
import { deleteDashboardSession, deleteExpiredDashboardSessions, insertDashboardSession } from "../db/dashboard-sessions.ts";
import { deleteToken, insertToken, listTokens, tokenHashTaken, tokenNameKey, tokenNameTaken } from "../db/tokens.ts";
import { admitSignIn, clientAddress, tooManyAttempts } from "../lib/auth-throttle.ts";
import { getConfig, MIN_PASSWORD_LENGTH } from "../lib/config.ts";
import { hmacHex, newId, randomHex } from "../lib/crypto.ts";
import { AppError } from "../lib/errors.ts";
import { burnPasswordCheck, hashPassword, verifyPassword } from "../lib/passwords.ts";
import { forgetToken } from "../lib/token-cache.ts";
import { parseJsonBody } from "../lib/validate.ts";
import { csrfProtection } from "../middleware/csrf.ts";
import { clearSessionCookie, requireSession, SESSION_TTL_MS, sessionIdHash, setSessionCookie } from "../middleware/session.ts";

const MAX_USERNAME = 64;
const MAX_PASSWORD = 1024;
const MAX_TOKEN_NAME = 64;
const MAX_TOKEN_VALUE = 256;
/** A chosen token value must be at least this long (generated ones are 52 characters). */
export const MIN_TOKEN_VALUE = 24;
const GENERATED_TOKEN_PREFIX = "obx_";

/**
 * A string of `min` to `max` characters (after `base`'s own steps, such as trimming), with
 * the messages the dashboard shows; `empty` is the one for "".
 */
function sized(min: number, max: number, empty = "required", base = z.string()) {
  const nonEmpty = base.min(1, empty);
  return (min > 1 ? nonEmpty.min(min, `at least ${min} characters`) : nonEmpty).max(max, `at most ${max} characters`);
}

/** A name: trimmed, then 1 to `max` characters. */
function trimmedName(max: number) {
  return sized(1, max, "required", z.string().trim());
}

export const loginBody = z.object({ username: z.string().min(1, "required"), password: sized(1, MAX_PASSWORD) }).strict();

export const registerBody = z
  .object({ username: trimmedName(MAX_USERNAME), password: sized(MIN_PASSWORD_LENGTH, MAX_PASSWORD) })
  .strict();

export const createTokenBody = z
  .object({
    name: trimmedName(MAX_TOKEN_NAME),
    token: sized(MIN_TOKEN_VALUE, MAX_TOKEN_VALUE, "must not be empty").regex(/^\S+$/, "must not contain whitespace").optional(),
  })
  .strict();

function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

function accountJson(a: AuthAccount): { account_id: string; username: string; is_admin: boolean } {
  return { account_id: a.accountId, username: a.username, is_admin: a.isAdmin };
}

/** The body of login and session: who is signed in plus what the dashboard needs to render. */
function sessionJson(c: Context<AppEnv>, account: AuthAccount) {
  const config = getConfig(c.env);
  return {
    authenticated: true,
    account: accountJson(account),
    registration_enabled: config.enableRegistration,
    console_version: config.version,
    console_repo_url: config.repoUrl,
  };
}

/**
 * `obx_…abcd`: the first and last four characters, enough to recognise a token, never
 * enough to help guess it (at most 8 of at least 24 characters).
 */
export function maskToken(token: string): string {
  const chars = [...token];
  if (chars.length >= MIN_TOKEN_VALUE) return `${chars.slice(0, 4).join("")}…${chars.slice(-4).join("")}`;
  return "…";
}

/** Dashboard auth, accounts and access tokens: `/api/v1/console`. */
export const consoleRoutes = new Hono<AppEnv>();

// ensureBootstrap() runs before this app (mounted on /api/* in index.ts).
consoleRoutes.use("*", csrfProtection());

consoleRoutes.post("/login", async (c) => {
  const body = await parseJsonBody(c, loginBody);
  const config = getConfig(c.env);
  const db = getDb(c.env);
  // Before any password work: a locked-out attempt costs no PBKDF2 and says nothing about the password.
  const admitted = await admitSignIn(c.env, body.username, clientAddress(c));
  if (!admitted.allowed) return tooManyAttempts(c, admitted.retryAfterMs, "too many failed sign-in attempts");
  const row = await findAccountByUsername(db, body.username.trim());
  if (!row) {
    await burnPasswordCheck(body.password, config.passwordIterations);
    throw new AppError("unauthenticated", "invalid username or password");
  }
  const stored = { hash: row.passwordHash, salt: row.passwordSalt, iterations: row.passwordIterations };
  if (!(await verifyPassword(body.password, stored))) {
    throw new AppError("unauthenticated", "invalid username or password");
  }
  await admitted.succeeded();
  if (row.passwordIterations !== config.passwordIterations) {
    // The only moment the plain password is at hand: bring the hash to the configured cost.
    await updatePasswordHash(db, row.id, await hashPassword(body.password, config.passwordIterations), Date.now());
  }

  const now = Date.now();
  const sessionId = randomHex(32);
  await deleteExpiredDashboardSessions(db, now);
  await insertDashboardSession(db, {
    idHash: await hmacHex(config.hashKey, sessionId),
    accountId: row.id,
    now,
    ttlMs: SESSION_TTL_MS,
  });
  setSessionCookie(c, sessionId);
  return c.json(sessionJson(c, toAuthAccount(row)));
});

consoleRoutes.get("/session", requireSession(), (c) => c.json(sessionJson(c, c.var.account)));

consoleRoutes.post("/logout", async (c) => {
  const idHash = await sessionIdHash(c);
  if (idHash) await deleteDashboardSession(getDb(c.env), idHash);
  clearSessionCookie(c);
  return c.body(null, 204);
});

consoleRoutes.post("/register", requireSession(), async (c) => {
  if (!getConfig(c.env).enableRegistration) throw new AppError("forbidden", "registration is disabled");
  if (!c.var.account.isAdmin) throw new AppError("forbidden", "admin privileges required");
  const body = await parseJsonBody(c, registerBody);
  const now = Date.now();
  const row = await insertAccount(getDb(c.env), {
    id: newId("acc"),
    username: body.username,
    password: await hashPassword(body.password, getConfig(c.env).passwordIterations),
    isAdmin: false,
    now,
  });
  return c.json(
    { account: accountJson(toAuthAccount(row)), created_at: rfc3339(row.createdAt), updated_at: rfc3339(row.updatedAt) },
    201,
  );
});

consoleRoutes.get("/tokens", requireSession(), async (c) => {
  const { items, total } = await listTokens(getDb(c.env), c.var.account.accountId);
  return c.json({
    items: items.map((t) => ({
      id: t.id,
      name: t.name,
      token_masked: t.tokenMasked,
      created_at: rfc3339(t.createdAt),
      updated_at: rfc3339(t.updatedAt),
    })),
    total,
  });
});

consoleRoutes.post("/tokens", requireSession(), async (c) => {
  const body = await parseJsonBody(c, createTokenBody);
  const db = getDb(c.env);
  const accountId = c.var.account.accountId;
  const generated = body.token === undefined;
  const token = body.token ?? `${GENERATED_TOKEN_PREFIX}${randomHex(24)}`;
  const tokenHash = await hmacHex(getConfig(c.env).hashKey, token);
  // Checked up front for a precise message; the unique indexes still catch a race.
  if (await tokenNameTaken(db, accountId, body.name)) throw new AppError("conflict", "token name already exists");
  if (await tokenHashTaken(db, tokenHash)) throw new AppError("conflict", "token value already in use");
  const now = Date.now();
  const row = {
    id: newId("tok"),
    accountId,
    name: body.name,
    nameKey: tokenNameKey(body.name),
    tokenHash,
    tokenMasked: maskToken(token),
    createdAt: now,
    updatedAt: now,
  };
  await insertToken(db, row);
  return c.json(
    {
      id: row.id,
      name: row.name,
      token,
      token_masked: row.tokenMasked,
      generated,
      created_at: rfc3339(now),
      updated_at: rfc3339(now),
    },
    201,
  );
});

consoleRoutes.delete("/tokens/:id", requireSession(), async (c) => {
  const deleted = await deleteToken(getDb(c.env), c.var.account.accountId, c.req.param("id"));
  if (!deleted) throw new AppError("not_found", "token not found");
  forgetToken(c.req.param("id"));
  return c.body(null, 204);
});

consoleRoutes.get("/tokens/:id/value", requireSession(), () => {
  throw new AppError(
    "gone",
    "token values are shown only once, when the token is created; delete this token and create a new one",
  );
});
