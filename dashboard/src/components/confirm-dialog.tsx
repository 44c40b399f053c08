import { createSignal, type JSX, Show } from "solid-js";
import { errorMessage } from "../api/client.ts";
import { createBusy } from "../lib/busy.ts";
import { Dialog } from "./dialog.tsx";

export interface ConfirmDialogProps {
  title: string;
  children: JSX.Element;
  confirmLabel: string;
  /** Runs the action; the dialog stays open with the error if it throws. */
  onConfirm: () => Promise<void>;
  onClose: () => void;
}

/** Asks before a destructive action; Cancel has the initial focus so Enter is never destructive. */
export function ConfirmDialog(props: ConfirmDialogProps): JSX.Element {
  const { busy, run } = createBusy();
  const [error, setError] = createSignal<string>();

  const confirm = (): Promise<void> =>
    run(
      async () => {
        setError(undefined);
        await props.onConfirm();
        props.onClose();
      },
      (err) => setError(errorMessage(err)),
    );

  return (
    <Dialog
      title={props.title}
      role="alertdialog"
      onClose={props.onClose}
      busy={busy()}
      actions={
        <>
          <button type="button" class="button" onClick={props.onClose} disabled={busy()} data-autofocus>
            Cancel
          </button>
          <button type="button" class="button danger" onClick={() => void confirm()} disabled={busy()}>
            {busy() ? "Working…" : props.confirmLabel}
          </button>
        </>
      }
    >
      <div class="confirm-text">{props.children}</div>
      <Show when={error()}>
        <p class="field-error" role="alert">
          {error()}
        </p>
      </Show>
    </Dialog>
  );
}
