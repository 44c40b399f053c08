import { check } from "@onlyboxes/proto";
import type { z } from "zod/v4";
import { CommandFailure } from "../capabilities/types.ts";

/**
 * Checks a command's payload against its capability's contract (from @onlyboxes/proto,
 * the same schema and messages the console uses); a mismatch is `invalid_argument`
 * naming the field, e.g. `session_id: must be at most 128 characters`.
 */
export function readPayload<S extends z.ZodType>(schema: S, payload: unknown): z.output<S> {
  const checked = check(schema, payload);
  if (!checked.ok) throw new CommandFailure("invalid_argument", checked.message);
  return checked.data;
}
