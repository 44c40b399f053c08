import { terminalExecRequest } from "@onlyboxes/proto";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { AppEnv } from "../app-env.ts";
import { runTerminal } from "../capabilities/terminal.ts";
import type { OutputChunk } from "../lib/dispatch.ts";
import { AppError } from "../lib/errors.ts";
import { parseJsonBody } from "../lib/validate.ts";

/** True when the client asked for a Server-Sent Events stream instead of one JSON answer. */
function wantsEventStream(accept: string | undefined): boolean {
  return (accept ?? "").split(",").some((part) => part.split(";")[0]?.trim().toLowerCase() === "text/event-stream");
}

/**
 * The established REST API trims `session_id` and treats a blank one as absent (a new
 * session); MCP has no such leniency, so it is applied here, before the shared check.
 */
function blankSessionIdAsAbsent(body: Record<string, unknown>): Record<string, unknown> {
  if (typeof body.session_id !== "string") return body;
  const { session_id, ...rest } = body;
  const trimmed = session_id.trim();
  return trimmed === "" ? rest : { ...rest, session_id: trimmed };
}

/**
 * `POST /terminal` (mounted under `/api/v1/commands`, behind the bearer middleware): runs
 * one command in a terminal session of the caller's account. Errors map through the
 * shared registry: 404 session_not_found, 409 session_busy, 429, 503, 504, 502.
 *
 * With `Accept: text/event-stream` the answer is a stream instead (an addition to the
 * contract): `stdout` / `stderr` events carrying `{"text": …}` while the command runs,
 * then one `result` event with the usual body, or one `error` event with
 * `{"error", "code", "status"}`. A bad body is still a plain 400 before any stream starts.
 */
export const terminalRoutes = new Hono<AppEnv>().post("/terminal", async (c) => {
  const { request_id: _unused, ...body } = await parseJsonBody(c, terminalExecRequest, undefined, blankSessionIdAsAbsent);
  const accountId = c.var.account.accountId;
  const signal = c.req.raw.signal;
  if (!wantsEventStream(c.req.header("accept"))) {
    return c.json(await runTerminal(c.env, accountId, body, { signal }));
  }
  return streamSSE(c, async (stream) => {
    // One decoder per stream, so a character split across chunks still decodes whole.
    const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
    let written: Promise<void> = Promise.resolve();
    const onOutput = (chunk: OutputChunk) => {
      const text = decoders[chunk.stream].decode(chunk.data, { stream: true });
      if (text === "") return;
      // Chained so events leave in the order the chunks arrived.
      written = written.then(() => stream.writeSSE({ event: chunk.stream, data: JSON.stringify({ text }) }));
    };
    try {
      const result = await runTerminal(c.env, accountId, body, { signal, onOutput });
      await written;
      await stream.writeSSE({ event: "result", data: JSON.stringify(result) });
    } catch (err) {
      await written.catch(() => {});
      const e = AppError.from(err);
      await stream.writeSSE({
        event: "error",
        data: JSON.stringify({ error: e.code === "internal" ? "internal error" : e.message, code: e.code, status: e.status }),
      });
    }
  });
});
