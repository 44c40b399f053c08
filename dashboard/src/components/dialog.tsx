import { createUniqueId, type JSX, onCleanup, onMount, Show } from "solid-js";
import { Portal } from "solid-js/web";

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export interface DialogProps {
  title: string;
  /** Called on Escape, a click on the backdrop, or the close button. */
  onClose: () => void;
  children: JSX.Element;
  /** Buttons along the bottom edge. */
  actions?: JSX.Element;
  /** `alertdialog` for confirmations that interrupt the user. */
  role?: "dialog" | "alertdialog";
  /** Block closing while an action is in flight. */
  busy?: boolean;
}

/**
 * A modal dialog: focus moves into it (to `[data-autofocus]` or the first control), Tab
 * cycles inside it, Escape closes it, and focus returns to where it was on close.
 */
export function Dialog(props: DialogProps): JSX.Element {
  const titleId = createUniqueId();
  let panel: HTMLDivElement | undefined;
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;

  const focusables = (): HTMLElement[] => (panel ? Array.from(panel.querySelectorAll<HTMLElement>(FOCUSABLE)) : []);
  const close = (): void => {
    if (!props.busy) props.onClose();
  };

  const onKeyDown = (e: KeyboardEvent): void => {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
      return;
    }
    if (e.key !== "Tab") return;
    const items = focusables();
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) return;
    const active = document.activeElement;
    if (e.shiftKey && (active === first || !panel?.contains(active))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (active === last || !panel?.contains(active))) {
      e.preventDefault();
      first.focus();
    }
  };

  onMount(() => {
    document.addEventListener("keydown", onKeyDown);
    const target = panel?.querySelector<HTMLElement>("[data-autofocus]") ?? focusables()[0] ?? panel;
    target?.focus();
  });
  onCleanup(() => {
    document.removeEventListener("keydown", onKeyDown);
    if (opener?.isConnected) opener.focus();
  });

  return (
    <Portal>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: clicking the backdrop is a mouse shortcut; Escape and the close button serve the keyboard. */}
      <div
        class="dialog-backdrop"
        onMouseDown={(e) => {
          if (e.target === e.currentTarget) close();
        }}
      >
        {/* biome-ignore lint/a11y/useAriaPropsSupportedByRole: the role is dialog or alertdialog, both modal roles. */}
        <div class="dialog" role={props.role ?? "dialog"} aria-modal="true" aria-labelledby={titleId} tabIndex={-1} ref={panel}>
          <header class="dialog-header">
            <h2 id={titleId}>{props.title}</h2>
            <button type="button" class="icon-button" aria-label="Close dialog" onClick={close} disabled={props.busy}>
              ×
            </button>
          </header>
          <div class="dialog-body">{props.children}</div>
          <Show when={props.actions}>
            <footer class="dialog-actions">{props.actions}</footer>
          </Show>
        </div>
      </div>
    </Portal>
  );
}

/** A dialog that only informs (a secret shown once, a start command) and closes with Done. */
export function DoneDialog(props: { title: string; onClose: () => void; children: JSX.Element }): JSX.Element {
  return (
    <Dialog
      title={props.title}
      onClose={props.onClose}
      actions={
        <button type="button" class="button primary" onClick={props.onClose} data-autofocus>
          Done
        </button>
      }
    >
      {props.children}
    </Dialog>
  );
}
