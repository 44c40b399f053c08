import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { runTerminal, terminalInputSchema } from "../lib/terminal.ts";
import { parseJsonBody } from "../lib/validate.ts";

/**
 * `POST /terminal` (mounted under `/api/v1/commands`, behind the bearer middleware): runs
 * one command in a terminal session of the caller's account. Errors map through the
 * shared registry: 404 session_not_found, 409 session_busy, 429, 503, 504, 502.
 */
export const terminalRoutes = new Hono<AppEnv>().post("/terminal", async (c) => {
  const body = await parseJsonBody(c, terminalInputSchema);
  const result = await runTerminal(c.env, c.var.account.accountId, body, { signal: c.req.raw.signal });
  return c.json(result);
});
