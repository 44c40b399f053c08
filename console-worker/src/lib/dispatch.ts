import { waitUntil } from "cloudflare:workers";
import { WORKER_ERROR_CODES } from "@onlyboxes/proto";
import type { Env } from "../env.ts";
import { accountLimitsStub } from "../objects/account-limits.ts";
import { type NodeView, nodeRegistryStub } from "../objects/node-registry.ts";
import { type DispatchOutcome, QUEUE_MARGIN_MS, workerNodeStub } from "../objects/worker-node.ts";
import { newId } from "./crypto.ts";
import { AppError, isErrorCode } from "./errors.ts";
import { accountLimits } from "./limits.ts";

/** A chunk of output streamed by the worker while a command runs. */
export interface OutputChunk {
  stream: "stdout" | "stderr";
  data: Uint8Array;
}

export interface DispatchOptions {
  /** The account the command runs for: it counts against that account's concurrent runs. */
  accountId: string;
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
  /**
   * Count the command against its account's concurrent runs (CONSOLE_ACCOUNT_MAX_RUNS):
   * true for a fresh-container run (stateless pythonExec). Commands inside a session are
   * bounded by the account's sessions instead (each runs one command at a time), and echo
   * runs nothing; neither pays the two round trips to the account's object.
   */
  countAsRun?: boolean;
}

/** A run counted against its account's limit until `release` (idempotent) ends it. */
export interface RunHold {
  release(): void;
}

/** The hold of a command that does not count against the account's runs. */
const NO_HOLD: RunHold = { release() {} };

/**
 * A run's hold outlives its deadline by this much before the account's counter presumes it
 * gone: only when the release itself was lost (the console isolate died mid-run).
 */
const RUN_HOLD_GRACE_MS = 30_000;

/** How long an isolate trusts its copy of the node list before asking the NodeRegistry again. */
const NODE_LIST_TTL_MS = 1_000;

interface NodeList {
  fetchedAt: number;
  nodes: NodeView[];
}

let nodeList: NodeList | null = null;
/** Commands this isolate has in flight per node, for least-loaded ordering. */
const localLoad = new Map<string, number>();

async function freshNodes(env: Env): Promise<NodeView[]> {
  const nodes = await nodeRegistryStub(env).list();
  nodeList = { fetchedAt: Date.now(), nodes };
  return nodes;
}

/** Nodes offering `capability`, least loaded (as this isolate sees it) first, ties shuffled. */
function candidates(nodes: NodeView[], capability: string): string[] {
  const scored: Array<{ nodeId: string; load: number; tie: number }> = [];
  for (const n of nodes) {
    const cap = n.capabilities.find((c) => c.name === capability);
    if (!cap) continue;
    scored.push({ nodeId: n.nodeId, load: (localLoad.get(n.nodeId) ?? 0) / cap.maxInflight, tie: Math.random() });
  }
  scored.sort((a, b) => a.load - b.load || a.tie - b.tie);
  return scored.map((x) => x.nodeId);
}

/**
 * Places a command on a worker with a free slot and waits for its result.
 * Resolves with the worker's result JSON; rejects with an AppError whose code is one of
 * no_worker, no_capacity, deadline_exceeded, worker_disconnected, canceled, or the
 * worker's own code (session_not_found, session_busy, file_not_found, …).
 *
 * Admission (`countAsRun`): the account's fresh-container runs are counted by its
 * AccountLimits object; over the limit a run waits there for one of the account's own to
 * end (until its deadline).
 *
 * Placement: the isolate's cached node list (refreshed from the NodeRegistry every second,
 * and at once before answering no_worker) in least-loaded order; each WorkerNode enforces
 * its own slots, so a full node answers at once and the next is tried. When every node is
 * full the command waits in a node's admission queue until its deadline (429 no_capacity
 * after that, or at once when the queue is at CONSOLE_QUEUE_MAX). `onPlaced` may be
 * called again if the first node turns out to be full.
 */
export async function dispatch(env: Env, opts: DispatchOptions): Promise<unknown> {
  if (opts.signal?.aborted) throw new AppError("canceled", "the command was canceled");
  const commandId = opts.commandId ?? newId("cmd");
  const deadlineUnixMs = Date.now() + opts.timeoutMs;
  const hold = opts.countAsRun ? await admitRun(env, opts.accountId, deadlineUnixMs) : NO_HOLD;
  let outcome: DispatchOutcome;
  try {
    outcome =
      opts.nodeId !== undefined
        ? await runPinned(env, opts, opts.nodeId, commandId, deadlineUnixMs)
        : await place(env, opts, commandId, deadlineUnixMs);
  } finally {
    hold.release();
  }
  if (outcome.ok) {
    try {
      return JSON.parse(outcome.payloadJson) as unknown;
    } catch (err) {
      throw new AppError("worker_error", "the worker returned a result that is not JSON", err);
    }
  }
  throw outcomeError(outcome);
}

/**
 * Admits one run of the account (its AccountLimits object counts them): over the limit the
 * run waits there for one of the account's own to end, up to its deadline, then fails with
 * `account_run_limit`.
 */
async function admitRun(env: Env, accountId: string, deadlineUnixMs: number): Promise<RunHold> {
  const limit = accountLimits(env).maxRuns;
  const holds = accountLimitsStub(env, accountId);
  const runId = crypto.randomUUID();
  const admitted = await holds.acquireRun(runId, deadlineUnixMs + RUN_HOLD_GRACE_MS, limit, deadlineUnixMs - QUEUE_MARGIN_MS);
  if (!admitted.ok) {
    throw new AppError(
      "account_run_limit",
      `account_run_limit: this account already runs ${admitted.held} fresh-container commands at once (the limit is ${limit}) and none ended before the deadline`,
    );
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      // Sent now, awaited by no answer: the caller's result does not wait for the account's
      // object (a run over the limit, waiting there, is admitted as soon as it arrives). A
      // lost release only delays: the hold expires RUN_HOLD_GRACE_MS after the deadline.
      waitUntil(holds.releaseRun(runId).catch(() => {}));
    },
  };
}

/** The AppError of a failed outcome: a worker's code if it may send it, else `worker_error`. */
export function outcomeError(outcome: { code: string; message: string }): AppError {
  if (isErrorCode(outcome.code) && WORKER_ERROR_CODES.has(outcome.code)) return new AppError(outcome.code, outcome.message);
  return new AppError("worker_error", `${outcome.code}: ${outcome.message}`);
}

async function runPinned(
  env: Env,
  opts: DispatchOptions,
  nodeId: string,
  commandId: string,
  deadlineUnixMs: number,
): Promise<DispatchOutcome> {
  const outcome = await runOn(env, opts, nodeId, commandId, deadlineUnixMs, true);
  if (!outcome.ok && outcome.notDelivered && outcome.code !== "no_capacity") {
    throw new AppError("no_worker", "the worker holding this session is not connected");
  }
  if (!outcome.ok && outcome.code === "no_capacity") {
    throw new AppError("no_capacity", `the worker holding this session is at capacity: ${outcome.message}`);
  }
  return outcome;
}

async function place(env: Env, opts: DispatchOptions, commandId: string, deadlineUnixMs: number): Promise<DispatchOutcome> {
  let fresh = nodeList === null || Date.now() - nodeList.fetchedAt > NODE_LIST_TTL_MS;
  let nodes = fresh ? await freshNodes(env) : (nodeList?.nodes ?? []);
  const tried = new Set<string>();
  const full: string[] = [];
  for (;;) {
    for (const nodeId of candidates(nodes, opts.capability)) {
      if (tried.has(nodeId)) continue;
      tried.add(nodeId);
      const outcome = await runOn(env, opts, nodeId, commandId, deadlineUnixMs, false);
      if (outcome.ok || !outcome.notDelivered) return outcome;
      if (outcome.code === "no_capacity") full.push(nodeId);
      if (opts.signal?.aborted) throw new AppError("canceled", "the command was canceled");
    }
    // Before saying no, look at the registry itself once: nodes may have come or gone.
    if (fresh || full.length > 0) break;
    fresh = true;
    nodes = await freshNodes(env);
  }
  if (full.length === 0) throw new AppError("no_worker", `no online worker offers capability ${opts.capability}`);
  // Every node is full: wait in the queue of the one this isolate loads least (the next
  // one only if that node went away meanwhile).
  let refusal = "no slot freed before the deadline";
  for (const nodeId of candidates(nodes, opts.capability).filter((id) => full.includes(id))) {
    if (Date.now() >= deadlineUnixMs - QUEUE_MARGIN_MS) break;
    const outcome = await runOn(env, opts, nodeId, commandId, deadlineUnixMs, true);
    if (outcome.ok || !outcome.notDelivered) return outcome;
    if (opts.signal?.aborted) throw new AppError("canceled", "the command was canceled");
    refusal = outcome.message;
    if (outcome.code === "no_capacity") break;
  }
  throw new AppError("no_capacity", `all workers offering ${opts.capability} are at capacity: ${refusal}`);
}

async function runOn(
  env: Env,
  opts: DispatchOptions,
  nodeId: string,
  commandId: string,
  deadlineUnixMs: number,
  wait: boolean,
): Promise<DispatchOutcome> {
  const node = workerNodeStub(env, nodeId);
  opts.onPlaced?.({ nodeId, commandId });
  const onAbort = () => {
    node.cancel(commandId, "canceled by the caller").catch(() => {});
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  localLoad.set(nodeId, (localLoad.get(nodeId) ?? 0) + 1);
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
      { accountId: opts.accountId, wait },
    );
  } catch (err) {
    throw new AppError("worker_error", "the command could not be delivered to the worker", err);
  } finally {
    const n = (localLoad.get(nodeId) ?? 1) - 1;
    if (n > 0) localLoad.set(nodeId, n);
    else localLoad.delete(nodeId);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

/** Cancels a command already placed on a node (used by tasks, whose cancel arrives in another request). */
export async function cancelDispatched(env: Env, nodeId: string, commandId: string, reason?: string): Promise<boolean> {
  return workerNodeStub(env, nodeId).cancel(commandId, reason);
}
