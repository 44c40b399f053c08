import { check } from "@onlyboxes/proto";
import type { Context } from "hono";
import type { z } from "zod/v4";
import { AppError } from "./errors.ts";

/** Largest JSON body any route accepts; larger bodies get 413 before parsing. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

/** Validates a parsed value; a mismatch becomes a 400 `invalid_argument` naming the field (under `prefix`). */
export function validate<S extends z.ZodType>(schema: S, value: unknown, prefix = ""): z.output<S> {
  const checked = check(schema, value, prefix);
  if (!checked.ok) throw new AppError("invalid_argument", checked.message);
  return checked.data;
}

/**
 * The request body, at most `maxBytes` of it (413 beyond): a declared length is checked
 * before anything is read; a streamed (chunked) body is counted as it arrives and reading
 * stops at the limit, so a client cannot make the console hold more than that.
 */
export async function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () => new AppError("payload_too_large", `request body exceeds ${maxBytes} bytes`);
  const declared = req.headers.get("content-length");
  if (declared !== null && !req.headers.has("transfer-encoding")) {
    if (Number(declared) > maxBytes) throw tooLarge();
    // The runtime reads exactly the declared length.
    return new Uint8Array(await req.arrayBuffer());
  }
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      // Not cancelled: the runtime then discards a bounded tail of the body itself after
      // answering, so a client still sending reads the 413 before the connection closes.
      // A cancelled body closed it at once and the client often saw only a reset (under
      // load, 9–13 streamed sign-ins in 40 against 2–3).
      reader.releaseLock();
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const whole = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return whole;
}

/**
 * Reads the request body as JSON and validates it. An empty body counts as `{}` so routes
 * whose fields are all optional accept a bare POST. Oversize → 413, not JSON → 400.
 * `prepare` may normalise the parsed object before it is checked.
 */
export async function parseJsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  maxBytes = MAX_JSON_BODY_BYTES,
  prepare: (body: Record<string, unknown>) => Record<string, unknown> = (b) => b,
): Promise<z.output<S>> {
  const buf = await readBody(c.req.raw, maxBytes);
  let value: unknown = {};
  if (buf.byteLength > 0) {
    try {
      value = JSON.parse(new TextDecoder().decode(buf));
    } catch {
      throw new AppError("invalid_argument", "request body is not valid JSON");
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new AppError("invalid_argument", "request body must be a JSON object");
  }
  return validate(schema, prepare(value as Record<string, unknown>));
}
