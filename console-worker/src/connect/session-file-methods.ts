import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { fileQuery, listQuery, sessionId } from "@onlyboxes/proto";
import { type ExecService, FileType, type ReadFileResponseSchema } from "@onlyboxes/proto/exec";
import { deleteFile, downloadFile, fileMaxBytes, listFiles, refuseAbove, uploadFile } from "../capabilities/session-files.ts";
import { validate } from "../lib/validate.ts";
import { guard, guarded, scopeOf } from "./call-scope.ts";

/**
 * Largest file one WriteFile carries. The whole message is held by the console while it
 * is decoded (a browser cannot stream a request body over HTTP/1.1), so this is well
 * below what a streamed REST upload may be; the smaller of the two applies.
 */
export const CONNECT_WRITE_MAX_BYTES = 16 * 1024 * 1024;

/**
 * What the router may read of one WriteFile request: the largest file in the JSON
 * encoding (base64, a third larger) and room for the other fields. The handler refuses a
 * file above the limit with `file_too_large`; only a body beyond this is cut off unread.
 */
export const WRITE_FILE_READ_MAX_BYTES = Math.ceil((CONNECT_WRITE_MAX_BYTES * 4) / 3) + 64 * 1024;

const fileArgs = fileQuery.extend({ session_id: sessionId });
const listArgs = listQuery.extend({ session_id: sessionId });

const TYPES: Record<string, FileType> = {
  file: FileType.FILE,
  dir: FileType.DIR,
  symlink: FileType.SYMLINK,
  other: FileType.OTHER,
};

/** The checked session id and path of a request, with the REST files API's messages. */
function fileTarget(req: { sessionId: string; path: string }): { session_id: string; path: string } {
  return guard(() => validate(fileArgs, { session_id: req.sessionId, path: req.path }));
}

/**
 * ExecService's file methods: the REST files API (`/api/v1/sessions/{id}/files`) over
 * Connect, for clients that speak it (the dashboard's Run page signs in with its cookie).
 * Each one calls the same console code as the REST route, so limits, locking and error
 * codes are the same; another account's session is `session_not_found`, like a missing one.
 */
export const sessionFileMethods: Pick<ServiceImpl<typeof ExecService>, "listFiles" | "readFile" | "writeFile" | "deleteFile"> = {
  async listFiles(req, ctx) {
    const { account, env } = scopeOf(ctx);
    const args = guard(() => validate(listArgs, { session_id: req.sessionId, ...(req.path !== "" ? { path: req.path } : {}) }));
    const listing = await guarded(listFiles(env, account.accountId, args.session_id, args.path ?? "."));
    return {
      path: listing.path,
      entries: listing.entries.map((e) => ({
        name: e.name,
        type: TYPES[e.type] ?? FileType.OTHER,
        size: BigInt(e.size),
        mtimeUnixMs: BigInt(Math.trunc(e.mtime)),
      })),
    };
  },

  async *readFile(req, ctx: HandlerContext): AsyncIterable<MessageInitShape<typeof ReadFileResponseSchema>> {
    const scope = scopeOf(ctx);
    const { session_id, path } = fileTarget(req);
    const file = await guarded(downloadFile(scope.env, scope.account.accountId, session_id, path));
    // The session stays locked until the bytes are through; a client gone mid-way cancels them.
    scope.waitUntil(file.done);
    const reader = file.body.getReader();
    try {
      yield {
        piece: { case: "info", value: { size: BigInt(file.size), mimeType: file.mimeType || "application/octet-stream" } },
      };
      for (;;) {
        const { done, value } = await guarded(reader.read());
        if (done) return;
        yield { piece: { case: "data", value } };
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
  },

  async writeFile(req, ctx) {
    const { account, env } = scopeOf(ctx);
    const { session_id, path } = fileTarget(req);
    const max = Math.min(
      guard(() => fileMaxBytes(env)),
      CONNECT_WRITE_MAX_BYTES,
    );
    guard(() => refuseAbove(req.data.byteLength, max));
    const body = new Response(req.data).body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    const written = await guarded(uploadFile(env, account.accountId, session_id, path, body));
    return { path: written.path, size: BigInt(written.size) };
  },

  async deleteFile(req, ctx) {
    const { account, env } = scopeOf(ctx);
    const { session_id, path } = fileTarget(req);
    await guarded(deleteFile(env, account.accountId, session_id, path));
    return {};
  },
};
