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
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > maxBytes) throw new AppError("payload_too_large", `request body exceeds ${maxBytes} bytes`);
  const buf = await c.req.arrayBuffer();
  if (buf.byteLength > maxBytes) throw new AppError("payload_too_large", `request body exceeds ${maxBytes} bytes`);
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
