import { createSessionRequest, fileQuery, listQuery, sessionId } from "@onlyboxes/proto";
import { type Context, Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import {
  createSession,
  deleteFile,
  downloadFile,
  endSession,
  fileMaxBytes,
  getSession,
  listFiles,
  listSessions,
  refuseAbove,
  uploadFile,
} from "../capabilities/session-files.ts";
import { AppError } from "../lib/errors.ts";
import { parseJsonBody, validate } from "../lib/validate.ts";
import { requireBearer } from "../middleware/bearer.ts";

/** The session id of the path; a malformed one is as absent as an unknown one. */
export function idParam(c: Context<AppEnv>): string {
  const checked = sessionId.safeParse(c.req.param("id"));
  if (!checked.success) throw new AppError("session_not_found", "session not found");
  return checked.data;
}

/**
 * Terminal sessions as a resource (bearer), mounted at `/api/v1/sessions`: create, list,
 * show, end; and the files in a session's container. File bodies are streamed both ways
 * (this route is exempt from the JSON body limit), never held whole by the console.
 */
export const sessionsRoutes = new Hono<AppEnv>()
  .use(requireBearer())
  .post("/", async (c) => {
    const body = await parseJsonBody(c, createSessionRequest);
    return c.json(await createSession(c.env, c.var.account.accountId, body.lease_ttl_sec), 201);
  })
  .get("/", async (c) => c.json({ items: await listSessions(c.env, c.var.account.accountId) }))
  .get("/:id", async (c) => c.json(await getSession(c.env, c.var.account.accountId, idParam(c))))
  .delete("/:id", async (c) => {
    await endSession(c.env, c.var.account.accountId, idParam(c));
    return c.body(null, 204);
  })
  .put("/:id/files", async (c) => {
    const id = idParam(c);
    const { path } = validate(fileQuery, c.req.query());
    const max = fileMaxBytes(c.env);
    const declared = Number(c.req.header("content-length") ?? "0");
    refuseAbove(declared, max);
    const body = c.req.raw.body ?? new Response(new Uint8Array()).body;
    if (!body) throw new AppError("internal", "no request body");
    return c.json(await uploadFile(c.env, c.var.account.accountId, id, path, body));
  })
  .get("/:id/files", async (c) => {
    const id = idParam(c);
    const { path } = validate(fileQuery, c.req.query());
    const file = await downloadFile(c.env, c.var.account.accountId, id, path);
    c.executionCtx.waitUntil(file.done);
    return new Response(file.body, {
      headers: {
        "content-type": file.mimeType || "application/octet-stream",
        "content-length": String(file.size),
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
      },
    });
  })
  .delete("/:id/files", async (c) => {
    const id = idParam(c);
    const { path } = validate(fileQuery, c.req.query());
    await deleteFile(c.env, c.var.account.accountId, id, path);
    return c.body(null, 204);
  })
  .get("/:id/files/list", async (c) => {
    const id = idParam(c);
    const { path } = validate(listQuery, c.req.query());
    return c.json(await listFiles(c.env, c.var.account.accountId, id, path ?? "."));
  });

/** True for a file upload, whose body is a file and is limited by CONSOLE_FILE_MAX_BYTES instead of the JSON limit. */
export function isFileUpload(method: string, pathname: string): boolean {
  return method === "PUT" && /^\/api\/v1\/sessions\/[^/]+\/files$/.test(pathname);
}
