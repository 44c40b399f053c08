import type { ErrorBody } from "@onlyboxes/proto";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { hasAnyAccount, insertFirstAccount } from "../db/accounts.ts";
import { isMigrationApplied } from "../db/schema-migrations.ts";
import type { Env } from "../env.ts";
import { getConfig, MIN_PASSWORD_LENGTH } from "./config.ts";
import { newId, randomHex } from "./crypto.ts";
import { AppError } from "./errors.ts";
import { hashPassword } from "./passwords.ts";

/**
 * Creates the first admin when the accounts table is empty, from CONSOLE_DASHBOARD_USERNAME /
 * CONSOLE_DASHBOARD_PASSWORD, or random values when unset. A generated password is logged
 * once, by the one call that actually created the account; later starts change nothing.
 * Returns whether this call created the admin.
 */
export async function bootstrapAdmin(env: Env): Promise<boolean> {
  const config = getConfig(env);
  if (await hasAnyAccount(env.DB)) return false;
  const username = config.dashboardUsername ?? `admin-${randomHex(3)}`;
  const generatedPassword = config.dashboardPassword === undefined;
  // Checked only here: once the admin exists the variable is ignored, so an old short value cannot break a running console.
  if (!generatedPassword && [...(config.dashboardPassword ?? "")].length < MIN_PASSWORD_LENGTH) {
    throw new AppError(
      "internal",
      `console misconfigured: CONSOLE_DASHBOARD_PASSWORD must be at least ${MIN_PASSWORD_LENGTH} characters`,
    );
  }
  const password = config.dashboardPassword ?? randomHex(12);
  const now = Date.now();
  const created = await insertFirstAccount(env.DB, {
    id: newId("acc"),
    username,
    password: await hashPassword(password, config.passwordIterations),
    isAdmin: true,
    now,
  });
  if (!created) return false;
  if (generatedPassword) {
    // The only place a password is ever logged: the operator has no other way to learn it.
    console.log(
      `[onlyboxes] created the first admin account: username=${username} password=${password} ` +
        "(generated; shown only this once; set CONSOLE_DASHBOARD_PASSWORD to choose it)",
    );
  } else {
    console.log(`[onlyboxes] created the first admin account: username=${username}`);
  }
  return true;
}

// One bootstrap per D1 database per isolate; a failed attempt is forgotten so the next
// request retries instead of staying broken.
const done = new WeakMap<D1Database, Promise<boolean>>();

function bootstrapOnce(env: Env): Promise<boolean> {
  let p = done.get(env.DB);
  if (!p) {
    p = bootstrapAdmin(env).catch((err: unknown) => {
      done.delete(env.DB);
      throw err;
    });
    done.set(env.DB, p);
  }
  return p;
}

// Once the wanted migration is seen applied it stays applied: one query per isolate.
const schemaReady = new WeakMap<D1Database, string>();

/**
 * Whether the database has the schema this console was started for. Only the self-host
 * launcher names one (CONSOLE_SCHEMA_MIGRATION, the newest migration file): it may start
 * listening before its migrations ran. Elsewhere the deployment migrates first.
 */
export async function isSchemaReady(env: Env): Promise<boolean> {
  const wanted = env.CONSOLE_SCHEMA_MIGRATION?.trim();
  if (!wanted || schemaReady.get(env.DB) === wanted) return true;
  if (!(await isMigrationApplied(env.DB, wanted))) return false;
  schemaReady.set(env.DB, wanted);
  return true;
}

/** Seconds a client is told to wait while the console is starting. */
const STARTING_RETRY_AFTER_SEC = 1;

/**
 * Middleware that makes sure the console is configured (CONSOLE_HASH_KEY present, else a
 * 500 naming it) and the first admin exists before the handlers after it run. Cheap after
 * the first request of an isolate. While the database is not migrated yet (a self-hosted
 * console that is still starting) it answers 503 with Retry-After, never a 500.
 */
export function ensureBootstrap(): MiddlewareHandler<AppEnv> {
  return async function ensureBootstrapMiddleware(c, next) {
    getConfig(c.env);
    if (!(await isSchemaReady(c.env))) {
      c.header("Retry-After", String(STARTING_RETRY_AFTER_SEC));
      const body: ErrorBody = { error: "the console is starting; retry shortly", code: "console_starting" };
      return c.json(body, 503);
    }
    await bootstrapOnce(c.env);
    return next();
  };
}
