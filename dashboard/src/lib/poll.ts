import { type Accessor, createEffect, createSignal, on, onCleanup } from "solid-js";
import { errorMessage } from "../api/client.ts";

export interface Poll<T> {
  /** The latest value; kept while a refresh is under way so the page does not flicker. */
  data: Accessor<T | undefined>;
  /** The last refresh's error, cleared by the next success. */
  error: Accessor<string | undefined>;
  /** True only until the first answer (or error) arrives. */
  loading: Accessor<boolean>;
  /** Fetch now, outside the interval (after a create or delete). */
  refresh: () => Promise<void>;
}

/**
 * Loads `fetcher(key())` now, whenever `key` changes, and every `intervalMs` while the tab is
 * visible. Answers to superseded requests are dropped so a slow old page never overwrites a
 * new filter's results.
 */
export function createPoll<K, T>(key: Accessor<K>, fetcher: (key: K) => Promise<T>, intervalMs: number): Poll<T> {
  const [data, setData] = createSignal<T>();
  const [error, setError] = createSignal<string>();
  const [loading, setLoading] = createSignal(true);
  let seq = 0;
  let disposed = false;

  const refresh = async (): Promise<void> => {
    const mine = ++seq;
    try {
      const value = await fetcher(key());
      if (disposed || mine !== seq) return;
      setData(() => value);
      setError(undefined);
    } catch (err) {
      if (disposed || mine !== seq) return;
      setError(errorMessage(err));
    } finally {
      if (!disposed && mine === seq) setLoading(false);
    }
  };

  createEffect(
    on(key, () => {
      setLoading(data() === undefined);
      void refresh();
    }),
  );

  if (intervalMs > 0) {
    const timer = setInterval(() => {
      if (typeof document !== "undefined" && document.visibilityState === "hidden") return;
      void refresh();
    }, intervalMs);
    onCleanup(() => clearInterval(timer));
  }
  onCleanup(() => {
    disposed = true;
  });

  return { data, error, loading, refresh };
}
