import type { Env } from "../env.ts";
import { schedulerStub } from "../objects/scheduler.ts";
import { type DispatchOutcome, workerNodeStub } from "../objects/worker-node.ts";
import { newId } from "./crypto.ts";
import { AppError, isErrorCode } from "./errors.ts";

/** Codes a worker (or the node object) may answer with; anything else is reported as `worker_error`. */
const WORKER_CODES = new Set<string>([
  "session_not_found",
  "session_busy",
  "file_not_found",
  "path_is_directory",
  "file_too_large",
  "invalid_argument",
  "deadline_exceeded",
  "canceled",
  "no_capacity",
  "no_worker",
  "worker_disconnected",
]);

/** A chunk of output streamed by the worker while a command runs. */
export interface OutputChunk {
  stream: "stdout" | "stderr";
  data: Uint8Array;
}

export interface DispatchOptions {
  capability: string;
  payload: unknown;
  timeoutMs: number;
  /** Run on this node only (terminal sessions are pinned); unknown/offline → no_worker. */
  nodeId?: string;
  /** Use this command id (tasks keep theirs); a fresh one otherwise. */
  commandId?: string;
  /** Receives output chunks as the worker streams them (asks the worker to stream). */
  onOutput?: (chunk: OutputChunk) => void;
  /** Called once the command has been placed on a node. */
  onPlaced?: (placement: { nodeId: string; commandId: string }) => void;
  /** Aborting sends a cancel frame to the worker and rejects with `canceled`. */
  signal?: AbortSignal;
}

/**
 * Places a command on a worker with a free slot and waits for its result.
 * Resolves with the worker's result JSON; rejects with an AppError whose code is one of
 * no_worker, no_capacity, deadline_exceeded, worker_disconnected, canceled, or the
 * worker's own code (session_not_found, session_busy, file_not_found, …).
 */
export async function dispatch(env: Env, opts: DispatchOptions): Promise<unknown> {
  if (opts.signal?.aborted) throw new AppError("canceled", "the command was canceled");
  const scheduler = schedulerStub(env);
  const commandId = opts.commandId ?? newId("cmd");
  const deadlineUnixMs = Date.now() + opts.timeoutMs;
  let outcome: DispatchOutcome | undefined;
  // A node that vanished between placement and delivery is dropped by the Scheduler; place once more.
  for (let attempt = 0; attempt < 2 && (outcome === undefined || (!outcome.ok && outcome.notDelivered)); attempt++) {
    outcome = await placeAndRun(env, scheduler, opts, commandId, deadlineUnixMs);
  }
  if (!outcome) throw new AppError("internal", "dispatch produced no outcome");
  if (outcome.ok) {
    try {
      return JSON.parse(outcome.payloadJson) as unknown;
    } catch (err) {
      throw new AppError("worker_error", "the worker returned a result that is not JSON", err);
    }
  }
  if (isErrorCode(outcome.code) && WORKER_CODES.has(outcome.code)) throw new AppError(outcome.code, outcome.message);
  throw new AppError("worker_error", `${outcome.code}: ${outcome.message}`);
}

async function placeAndRun(
  env: Env,
  scheduler: ReturnType<typeof schedulerStub>,
  opts: DispatchOptions,
  commandId: string,
  deadlineUnixMs: number,
): Promise<DispatchOutcome> {
  const placed = await scheduler.acquire(opts.capability, opts.nodeId);
  if (!placed.ok) throw new AppError(placed.code, placed.message);
  const node = workerNodeStub(env, placed.nodeId);
  opts.onPlaced?.({ nodeId: placed.nodeId, commandId });
  const onAbort = () => {
    node.cancel(commandId, "canceled by the caller").catch(() => {});
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await node.dispatch(
      {
        commandId,
        capability: opts.capability,
        payloadJson: JSON.stringify(opts.payload),
        deadlineUnixMs,
        streamOutput: opts.onOutput !== undefined,
      },
      opts.onOutput,
    );
  } catch (err) {
    // The node never ran the command (its object failed): free the slot ourselves.
    await scheduler.release(placed.nodeId, opts.capability).catch(() => {});
    throw new AppError("worker_error", "the command could not be delivered to the worker", err);
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

/** Cancels a command already placed on a node (used by tasks, whose cancel arrives in another request). */
export async function cancelDispatched(env: Env, nodeId: string, commandId: string, reason?: string): Promise<boolean> {
  return workerNodeStub(env, nodeId).cancel(commandId, reason);
}
