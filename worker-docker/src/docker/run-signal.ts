import { type CommandContext, CommandFailure } from "../capabilities/types.ts";

/** One signal for a run, and the absolute deadline it fires at. */
export interface RunSignal {
  signal: AbortSignal;
  deadlineUnixMs: number;
}

/** setTimeout (behind AbortSignal.timeout) fires at once beyond this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Combines `ctx.signal`, `ctx.deadlineUnixMs` and an optional `timeoutMs` into one
 * AbortSignal. The deadline is enforced here too, so a capability stays bounded even if
 * its caller never aborts. Turn its reason into the run's answer with `abortFailure`.
 */
export function runSignal(ctx: CommandContext, timeoutMs?: number): RunSignal {
  const deadlineUnixMs = timeoutMs === undefined ? ctx.deadlineUnixMs : Math.min(ctx.deadlineUnixMs, Date.now() + timeoutMs);
  const ms = Math.min(MAX_TIMER_MS, Math.max(0, deadlineUnixMs - Date.now()));
  return { signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(ms)]), deadlineUnixMs };
}

/** The failure a run answers when its signal aborted: the caller's own, a deadline, or a cancel. */
export function abortFailure(reason: unknown): CommandFailure {
  if (reason instanceof CommandFailure) return reason;
  if (reason instanceof DOMException && reason.name === "TimeoutError") {
    return new CommandFailure("deadline_exceeded", "the command did not finish before its deadline");
  }
  return new CommandFailure("canceled", "the command was canceled");
}

/**
 * Settles like `work`, unless the signal aborts first: then rejects with `abortFailure`.
 * (Node has no stable built-in for racing a promise against a signal: `util.aborted` is
 * experimental in Node 20.)
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortFailure(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortFailure(signal.reason));
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
