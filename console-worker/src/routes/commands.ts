import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env.ts";
import { dispatch } from "../lib/dispatch.ts";
import { parseJsonBody } from "../lib/validate.ts";
import { requireBearer } from "../middleware/bearer.ts";
import { terminalRoutes } from "./terminal.ts";

const echoBody = z
  .object({
    message: z.string().refine((s) => s.trim().length > 0, "must not be blank"),
    timeout_ms: z.number().int().min(1).max(60_000).default(5_000),
  })
  .strict();

/** Direct execution routes (bearer): echo here, terminal in its own module. */
export const commandsRoutes = new Hono<AppEnv>()
  .use(requireBearer())
  .post("/echo", async (c) => {
    const body = await parseJsonBody(c, echoBody);
    const result = (await dispatch(c.env, {
      accountId: c.var.account.accountId,
      capability: "echo",
      payload: { message: body.message },
      timeoutMs: body.timeout_ms,
      signal: c.req.raw.signal,
    })) as { message?: unknown };
    return c.json({ message: typeof result.message === "string" ? result.message : "" });
  })
  .route("/", terminalRoutes);
