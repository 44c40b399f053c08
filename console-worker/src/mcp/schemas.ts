import { EXEC_TIMEOUT_MS, filePath, sessionId, timeoutMs } from "@onlyboxes/proto";
import { z } from "zod/v4";

/*
 * What only MCP needs on top of the capability contracts in @onlyboxes/proto: the
 * arguments of `readImage` (a tool over terminalResource) and the conversion of a zod
 * schema to the JSON Schema advertised in tools/list, so what a client is told and what
 * the console enforces cannot drift apart.
 */

export const readImageArgs = z.strictObject({
  session_id: sessionId.describe("The terminalExec session whose container holds the image."),
  file_path: filePath.describe("Path of the image inside the session container, e.g. /tmp/plot.png."),
  timeout_ms: timeoutMs(EXEC_TIMEOUT_MS.max).describe(
    `Give up after this many milliseconds (default ${EXEC_TIMEOUT_MS.default}).`,
  ),
});

/** The JSON Schema shape MCP requires for tool input/output schemas. */
export interface ObjectJsonSchema {
  type: "object";
  properties?: Record<string, object>;
  required?: string[];
  [key: string]: unknown;
}

/** Converts a zod object schema to the JSON Schema advertised in tools/list. */
export function toObjectJsonSchema(schema: z.ZodType, io: "input" | "output"): ObjectJsonSchema {
  const json = z.toJSONSchema(schema, { io, target: "draft-2020-12" }) as Record<string, unknown>;
  if (json.type !== "object") throw new Error("tool schemas must describe an object");
  // The $schema line is noise for clients; every MCP schema is 2020-12 by default.
  const { $schema: _ignored, ...rest } = json;
  return { ...rest, type: "object" };
}
