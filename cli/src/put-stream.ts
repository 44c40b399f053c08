import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";

/**
 * How long to wait for `100 Continue` before sending the body anyway (a server that
 * ignores `Expect`, as the console's runtime does), as curl does.
 */
const CONTINUE_WAIT_MS = 1_000;
/**
 * Bodies up to this size go at once, without `Expect` (like curl): they fit in the
 * socket's buffers, so an early answer is still read, and they need not pay the wait.
 */
const EXPECT_ABOVE_BYTES = 1024 * 1024;

/**
 * PUTs a streamed body; a large one (or one of unknown length) with `Expect: 100-continue`,
 * so the console can refuse it (unknown session, over the size limit) from the headers
 * alone and that answer is read instead of a connection reset half-way through the body.
 * An answer that arrives while the body is still being sent stops the sending. Resolves
 * with the whole (small) response.
 */
export function putStream(
  url: URL,
  headers: Record<string, string>,
  body: Readable,
  length: number | undefined,
  signal?: AbortSignal,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const transport = url.protocol === "https:" ? https : http;
    const expect = length === undefined || length > EXPECT_ABOVE_BYTES;
    const req = transport.request(url, {
      method: "PUT",
      headers: {
        ...headers,
        ...(length !== undefined ? { "content-length": String(length) } : {}),
        ...(expect ? { expect: "100-continue" } : {}),
      },
      ...(signal ? { signal } : {}),
    });
    let answered = false;
    let sending = false;
    const send = () => {
      if (sending || answered) return;
      sending = true;
      body.pipe(req);
    };
    const timer = setTimeout(send, expect ? CONTINUE_WAIT_MS : 0);
    req.on("continue", send);
    body.on("error", (err) => req.destroy(err));
    req.on("error", (err) => {
      clearTimeout(timer);
      body.destroy();
      if (!answered) reject(err);
    });
    req.on("response", (res) => {
      answered = true;
      clearTimeout(timer);
      // Whatever of the body is not sent yet is not wanted any more.
      body.unpipe(req);
      body.destroy();
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const status = res.statusCode ?? 502;
        // A body the console did not read to the end leaves the connection unusable.
        req.destroy();
        resolve(
          new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), {
            status,
            statusText: res.statusMessage ?? "",
            headers: Object.entries(res.headers).flatMap(([k, v]) =>
              v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((x): [string, string] => [k, x]),
            ),
          }),
        );
      });
    });
  });
}
