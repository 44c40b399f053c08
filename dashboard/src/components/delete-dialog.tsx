import type { JSX } from "solid-js";
import { ApiError } from "../api/client.ts";
import { ConfirmDialog } from "./confirm-dialog.tsx";

export interface DeleteDialogProps {
  title: string;
  confirmLabel: string;
  /** Deletes the thing; a 404 counts as done (another tab got there first). */
  remove: () => Promise<unknown>;
  /** Reloads the list the thing was in. */
  refresh: () => Promise<unknown>;
  onClose: () => void;
  children: JSX.Element;
}

/** Confirms a deletion, treats "already gone" as success, then refreshes the list. */
export function DeleteDialog(props: DeleteDialogProps): JSX.Element {
  return (
    <ConfirmDialog
      title={props.title}
      confirmLabel={props.confirmLabel}
      onClose={props.onClose}
      onConfirm={async () => {
        try {
          await props.remove();
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 404)) throw err;
        }
        await props.refresh();
      }}
    >
      {props.children}
    </ConfirmDialog>
  );
}

/** The small red "Delete" button (or another verb, `text`) at the end of a table row. */
export function RowDeleteButton(props: { label: string; onClick: () => void; text?: string }): JSX.Element {
  return (
    <button type="button" class="button small danger-outline" onClick={() => props.onClick()} aria-label={props.label}>
      {props.text ?? "Delete"}
    </button>
  );
}
