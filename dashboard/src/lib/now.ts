import { type Accessor, createSignal, onCleanup } from "solid-js";

/** The current time in ms, ticking every `intervalMs`, for relative times and countdowns. */
export function createNow(intervalMs = 1000): Accessor<number> {
  const [now, setNow] = createSignal(Date.now());
  const timer = setInterval(() => setNow(Date.now()), intervalMs);
  onCleanup(() => clearInterval(timer));
  return now;
}
