import { type Accessor, createSignal } from "solid-js";

export interface Busy {
  /** True while an action runs (buttons disable themselves and say what they are doing). */
  busy: Accessor<boolean>;
  /** Runs `work` with the flag raised; a failure goes to `onError` instead of out. */
  run: (work: () => Promise<void>, onError: (err: unknown) => void) => Promise<void>;
}

/** The busy flag of one async action of a form or dialog (a submit, a confirm). */
export function createBusy(): Busy {
  const [busy, setBusy] = createSignal(false);
  return {
    busy,
    async run(work, onError) {
      setBusy(true);
      try {
        await work();
      } catch (err) {
        onError(err);
      } finally {
        setBusy(false);
      }
    },
  };
}
