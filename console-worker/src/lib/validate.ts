import type { Context } from "hono";
import type { z } from "zod";
import { AppError } from "./errors.ts";

/** Largest JSON body any route accepts; larger bodies get 413 before parsing. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

/** Formats the first zod issue as `field: message` so a client sees exactly what to fix. */
export function describeZodError(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return "invalid request";
  const path = issue.path.join(".");
  if (issue.code === "unrecognized_keys") return `unknown field: ${issue.keys.join(", ")}`;
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** Validates a parsed value; a mismatch becomes a 400 with a readable message. */
export function validate<S extends z.ZodTypeAny>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AppError("invalid_argument", describeZodError(parsed.error));
  return parsed.data;
}

/**
 * Reads the request body as JSON and validates it. An empty body counts as `{}` so routes
 * whose fields are all optional accept a bare POST. Oversize → 413, not JSON → 400.
 */
export async function parseJsonBody<S extends z.ZodTypeAny>(
  c: Context,
  schema: S,
  maxBytes = MAX_JSON_BODY_BYTES,
): Promise<z.infer<S>> {
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
  return validate(schema, value);
}
