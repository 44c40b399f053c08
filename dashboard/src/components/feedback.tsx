import { type JSX, Show } from "solid-js";

/** A red banner for a failed load or action, with an optional retry. */
export function ErrorBanner(props: { message: string | undefined; onRetry?: () => void; onDismiss?: () => void }): JSX.Element {
  return (
    <Show when={props.message}>
      <div class="banner error" role="alert">
        <span>{props.message}</span>
        <span class="banner-actions">
          <Show when={props.onRetry}>
            {(retry) => (
              <button type="button" class="button small" onClick={() => retry()()}>
                Retry
              </button>
            )}
          </Show>
          <Show when={props.onDismiss}>
            {(dismiss) => (
              <button type="button" class="icon-button" aria-label="Dismiss" onClick={() => dismiss()()}>
                ×
              </button>
            )}
          </Show>
        </span>
      </div>
    </Show>
  );
}

/** A neutral or success banner (notices, confirmations). */
export function Notice(props: { children: JSX.Element; tone?: "info" | "success" }): JSX.Element {
  return (
    <div class={`banner ${props.tone ?? "info"}`} role="status">
      {props.children}
    </div>
  );
}

/** Shown while the first answer of a list is on its way. */
export function Loading(props: { label?: string }): JSX.Element {
  return (
    <div class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" />
      {props.label ?? "Loading…"}
    </div>
  );
}

/** What an empty list says, with an optional next step. */
export function EmptyState(props: { title: string; children?: JSX.Element }): JSX.Element {
  return (
    <div class="empty-state">
      <p class="empty-title">{props.title}</p>
      <Show when={props.children}>
        <div class="empty-body">{props.children}</div>
      </Show>
    </div>
  );
}

/** A whole-page spinner while the signed-in state is being restored. */
export function RestoringSplash(): JSX.Element {
  return (
    <div class="splash">
      <Loading label="Restoring your session…" />
    </div>
  );
}
