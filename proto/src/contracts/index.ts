import type { z } from "zod/v4";
import { echoInput, echoRequest, echoResult } from "./echo.ts";
import { pythonExecInput, pythonExecPayload, pythonExecResult } from "./python-exec.ts";
import { terminalExecInput, terminalExecPayload, terminalExecResult } from "./terminal-exec.ts";
import { terminalResourceInput, terminalResourcePayload, terminalResourceResult } from "./terminal-resource.ts";

export * from "./echo.ts";
export * from "./errors.ts";
export * from "./fields.ts";
export * from "./python-exec.ts";
export * from "./rest-api.ts";
export * from "./session-files.ts";
export * from "./terminal-exec.ts";
export * from "./terminal-resource.ts";

/**
 * Each capability's contract: `input` is what a task's `input` (and a direct call) holds,
 * `payload` what the worker receives in `CommandDispatch.payload_json` and checks,
 * `result` what the worker answers. Adding a capability starts here.
 */
export const CAPABILITY_CONTRACTS = {
  echo: { input: echoInput, payload: echoRequest, result: echoResult },
  pythonExec: { input: pythonExecInput, payload: pythonExecPayload, result: pythonExecResult },
  terminalExec: { input: terminalExecInput, payload: terminalExecPayload, result: terminalExecResult },
  terminalResource: { input: terminalResourceInput, payload: terminalResourcePayload, result: terminalResourceResult },
} as const satisfies Record<string, { input: z.ZodType; payload: z.ZodType; result: z.ZodType }>;

/** A capability name of the contract (the names workers declare in hello). */
export type CapabilityName = keyof typeof CAPABILITY_CONTRACTS;

/** Every capability name, in the contract's order. */
export const CAPABILITY_NAMES = Object.keys(CAPABILITY_CONTRACTS) as CapabilityName[];

/** True when `name` is a capability of the contract. */
export function isCapabilityName(name: string): name is CapabilityName {
  return Object.hasOwn(CAPABILITY_CONTRACTS, name);
}

/** The validated input of one capability. */
export type CapabilityInput<K extends CapabilityName> = z.output<(typeof CAPABILITY_CONTRACTS)[K]["input"]>;
/** The validated worker payload of one capability. */
export type CapabilityPayload<K extends CapabilityName> = z.output<(typeof CAPABILITY_CONTRACTS)[K]["payload"]>;
/** The result of one capability. */
export type CapabilityResult<K extends CapabilityName> = z.output<(typeof CAPABILITY_CONTRACTS)[K]["result"]>;
