import { ECHO_TIMEOUT_MS, echoRequest, echoResult } from "@onlyboxes/proto";
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { runCapability } from "../capabilities/run-capability.ts";
import { AppError } from "../lib/errors.ts";
import { parseJsonBody } from "../lib/validate.ts";
import { requireBearer } from "../middleware/bearer.ts";
import { terminalRoutes } from "./terminal.ts";

/** Direct execution routes (bearer): echo here, terminal in its own module. */
export const commandsRoutes = new Hono<AppEnv>()
  .use(requireBearer())
  .post("/echo", async (c) => {
    const body = await parseJsonBody(c, echoRequest);
    const raw = await runCapability(
      c.env,
      { capability: "echo", payload: { message: body.message } },
      {
        accountId: c.var.account.accountId,
        timeoutMs: body.timeout_ms ?? ECHO_TIMEOUT_MS.default,
        signal: c.req.raw.signal,
      },
    );
    const result = echoResult.safeParse(raw);
    if (!result.success) throw new AppError("worker_error", "the worker returned an unexpected echo result");
    return c.json({ message: result.data.message });
  })
  .route("/", terminalRoutes);
