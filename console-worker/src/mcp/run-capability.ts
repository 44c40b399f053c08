import type { z } from "zod/v4";
import type { Env } from "../env.ts";
import { dispatch, type OutputChunk } from "../lib/dispatch.ts";
import { AppError } from "../lib/errors.ts";
import { readTerminalResource, runTerminal } from "../lib/terminal.ts";
import type { CAPABILITY_PAYLOADS, Capability } from "./schemas.ts";

/** A validated payload for one capability. */
export type CapabilityCall = {
  [K in Capability]: { capability: K; payload: z.infer<(typeof CAPABILITY_PAYLOADS)[K]> };
}[Capability];

export interface RunCapabilityOptions {
  /** Owner of terminal sessions the call may touch. */
  accountId: string;
  timeoutMs: number;
  /** Keep this command id (tasks report theirs); echo and pythonExec only. */
  commandId?: string;
  signal?: AbortSignal;
  onOutput?: (chunk: OutputChunk) => void;
  /** Called when the command reaches a worker (terminal capabilities: when the call starts, without a node id). */
  onPlaced?: (placement: { nodeId?: string }) => void;
}

/**
 * Runs one capability call and resolves with the worker's result JSON. Stateless
 * capabilities go straight to `dispatch`; terminal ones go through the account's Session
 * object (pinning, lease, busy lock) via lib/terminal. Rejects with an AppError.
 */
export async function runCapability(env: Env, call: CapabilityCall, opts: RunCapabilityOptions): Promise<unknown> {
  switch (call.capability) {
    case "echo":
    case "pythonExec":
      return dispatch(env, {
        accountId: opts.accountId,
        capability: call.capability,
        payload: call.payload,
        timeoutMs: opts.timeoutMs,
        ...(opts.commandId !== undefined ? { commandId: opts.commandId } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onOutput ? { onOutput: opts.onOutput } : {}),
        ...(opts.onPlaced ? { onPlaced: (p: { nodeId: string }) => opts.onPlaced?.({ nodeId: p.nodeId }) } : {}),
      });
    case "terminalExec":
      opts.onPlaced?.({});
      return runTerminal(
        env,
        opts.accountId,
        { ...call.payload, timeout_ms: opts.timeoutMs },
        { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onOutput ? { onOutput: opts.onOutput } : {}) },
      );
    case "terminalResource": {
      opts.onPlaced?.({});
      const read = readTerminalResource(env, opts.accountId, {
        session_id: call.payload.session_id,
        file_path: call.payload.file_path,
        action: call.payload.action ?? "read",
        timeout_ms: opts.timeoutMs,
      });
      // A resource read cannot be interrupted on the worker; a cancel still ends the call here.
      return opts.signal ? raceAbort(read, opts.signal) : read;
    }
  }
}

/** Settles with `work`, or rejects with `canceled` as soon as `signal` aborts. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(new AppError("canceled", "the command was canceled"));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AppError("canceled", "the command was canceled"));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
