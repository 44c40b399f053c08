import { type CommandContext, CommandFailure } from "../capabilities/types.ts";

/** One signal for a run, and the absolute deadline it fires at. */
export interface RunSignal {
  signal: AbortSignal;
  deadlineUnixMs: number;
  /** Lets go of the timer and the caller's signal once the run is over (optional: both end by themselves). */
  dispose(): void;
}

/** setTimeout fires at once beyond this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Combines `ctx.signal`, `ctx.deadlineUnixMs` and an optional `timeoutMs` into one
 * AbortSignal. The deadline is enforced here too, so a capability stays bounded even if
 * its caller never aborts. Turn its reason into the run's answer with `abortFailure`.
 * (One controller and one unref'd timer: `AbortSignal.any` with `AbortSignal.timeout`
 * costs ten times the CPU per run, and more again in the collector.)
 */
export function runSignal(ctx: CommandContext, timeoutMs?: number): RunSignal {
  const deadlineUnixMs = timeoutMs === undefined ? ctx.deadlineUnixMs : Math.min(ctx.deadlineUnixMs, Date.now() + timeoutMs);
  const ms = Math.min(MAX_TIMER_MS, Math.max(0, deadlineUnixMs - Date.now()));
  const controller = new AbortController();
  const outer = ctx.signal;
  const onOuter = () => {
    clearTimeout(timer);
    controller.abort(outer.reason);
  };
  const timer = setTimeout(() => {
    outer.removeEventListener("abort", onOuter);
    controller.abort(new DOMException("The run reached its deadline", "TimeoutError"));
  }, ms);
  timer.unref();
  if (outer.aborted) onOuter();
  else outer.addEventListener("abort", onOuter, { once: true });
  return {
    signal: controller.signal,
    deadlineUnixMs,
    dispose: () => {
      clearTimeout(timer);
      outer.removeEventListener("abort", onOuter);
    },
  };
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
