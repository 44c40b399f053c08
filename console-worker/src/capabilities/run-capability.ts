import type { CapabilityInput, CapabilityName } from "@onlyboxes/proto";
import type { Env } from "../env.ts";
import { dispatch, type OutputChunk } from "../lib/dispatch.ts";
import { AppError } from "../lib/errors.ts";
import { runPythonSession } from "./python-session.ts";
import type { SessionRunOptions } from "./session-command.ts";
import { readTerminalResource, runTerminal } from "./terminal.ts";

/** A validated input for one capability. */
export type CapabilityCall = {
  [K in CapabilityName]: { capability: K; payload: CapabilityInput<K> };
}[CapabilityName];

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
 * Runs one capability call for any front door (REST, MCP, the Task object) and resolves
 * with the worker's result JSON. Stateless capabilities go straight to `dispatch`;
 * terminal ones and session-bound pythonExec go through the account's Session object (pinning, lease, busy lock) via
 * ./terminal.ts. Rejects with an AppError.
 */
export async function runCapability(env: Env, call: CapabilityCall, opts: RunCapabilityOptions): Promise<unknown> {
  switch (call.capability) {
    case "pythonExec":
      if (call.payload.session_id !== undefined) {
        opts.onPlaced?.({});
        return runPythonSession(
          env,
          opts.accountId,
          { ...call.payload, session_id: call.payload.session_id, timeout_ms: opts.timeoutMs },
          sessionRunOptions(opts),
        );
      }
      return runStateless(env, call, opts);
    case "echo":
      return runStateless(env, call, opts);
    case "terminalExec":
      opts.onPlaced?.({});
      return runTerminal(env, opts.accountId, { ...call.payload, timeout_ms: opts.timeoutMs }, sessionRunOptions(opts));
    case "terminalResource": {
      opts.onPlaced?.({});
      const read = readTerminalResource(env, opts.accountId, {
        session_id: call.payload.session_id,
        file_path: call.payload.file_path,
        action: call.payload.action ?? "read",
        timeout_ms: opts.timeoutMs,
      });
      // A resource read cannot be interrupted on the worker; a cancel still ends the call here.
      return opts.signal ? untilAborted(read, opts.signal) : read;
    }
  }
}

/** The part of the options a session command takes: its cancel signal and output stream, when given. */
function sessionRunOptions(opts: RunCapabilityOptions): SessionRunOptions {
  return { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onOutput ? { onOutput: opts.onOutput } : {}) };
}

/** A fresh-container capability: straight to any node that offers it. */
function runStateless(
  env: Env,
  call: Extract<CapabilityCall, { capability: "echo" | "pythonExec" }>,
  opts: RunCapabilityOptions,
): Promise<unknown> {
  return dispatch(env, {
    accountId: opts.accountId,
    capability: call.capability,
    payload: call.payload,
    timeoutMs: opts.timeoutMs,
    // Echo runs nothing: only a fresh container counts against the account's runs.
    countAsRun: call.capability === "pythonExec",
    ...(opts.commandId !== undefined ? { commandId: opts.commandId } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onOutput ? { onOutput: opts.onOutput } : {}),
    ...(opts.onPlaced ? { onPlaced: (p: { nodeId: string }) => opts.onPlaced?.({ nodeId: p.nodeId }) } : {}),
  });
}

/** Settles with `work`, or rejects with `canceled` as soon as `signal` aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  const canceled = () => new AppError("canceled", "the command was canceled");
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(canceled());
  }
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(canceled());
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}
