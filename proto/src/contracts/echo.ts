import { z } from "zod/v4";
import type { ErrorCode } from "./errors.ts";
import { intBetween, MAX_TEXT_CHARS, text } from "./fields.ts";

/** `timeout_ms` of an echo call (REST and MCP): 1..60000, default 5000. */
export const ECHO_TIMEOUT_MS = { min: 1, default: 5_000, max: 60_000 } as const;

/** What a task's `input` and the worker's payload hold. */
export const echoInput = z.strictObject({
  message: text(MAX_TEXT_CHARS).describe("Text the worker sends back unchanged."),
});

/** `POST /api/v1/commands/echo` body and the MCP `echo` tool's arguments. */
export const echoRequest = echoInput.extend({
  timeout_ms: intBetween(ECHO_TIMEOUT_MS.min, ECHO_TIMEOUT_MS.max)
    .optional()
    .describe(`Give up after this many milliseconds (default ${ECHO_TIMEOUT_MS.default}).`),
});

/** The worker's answer, also the REST and MCP result. */
export const echoResult = z.object({ message: z.string().describe("The message, unchanged.") });

/** Codes an echo call may end with besides the placement ones. */
export const ECHO_ERRORS = ["invalid_argument", "deadline_exceeded", "canceled"] as const satisfies readonly ErrorCode[];

export type EchoInput = z.infer<typeof echoInput>;
export type EchoResult = z.infer<typeof echoResult>;
