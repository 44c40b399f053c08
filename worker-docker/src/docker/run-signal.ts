import { type CommandContext, CommandFailure } from "../capabilities/types.ts";

/** One signal for a run: the caller's cancel, its deadline, and the payload's own timeout_ms. */
export interface RunSignal {
  signal: AbortSignal;
  dispose(): void;
}

/**
 * Combines `ctx.signal`, `ctx.deadlineUnixMs` and an optional `timeoutMs` into one
 * AbortSignal whose reason is always a CommandFailure (`deadline_exceeded` or `canceled`).
 * The deadline is enforced here too, so a capability stays bounded even if its caller
 * never aborts.
 */
export function runSignal(ctx: CommandContext, timeoutMs?: number): RunSignal {
  const controller = new AbortController();
  let deadline = ctx.deadlineUnixMs;
  if (timeoutMs !== undefined) deadline = Math.min(deadline, Date.now() + timeoutMs);
  const onAbort = () => {
    const reason: unknown = ctx.signal.reason;
    controller.abort(reason instanceof CommandFailure ? reason : new CommandFailure("canceled", "the command was canceled"));
  };
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(
    () => controller.abort(new CommandFailure("deadline_exceeded", "the command did not finish before its deadline")),
    Math.max(0, deadline - Date.now()),
  );
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      ctx.signal.removeEventListener("abort", onAbort);
    },
  };
}

/** Rejects with the signal's reason when it aborts; otherwise settles like `work`. */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
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
