import { type JSX, Show } from "solid-js";
import { useSession } from "../lib/session.tsx";
import { EmptyState } from "./feedback.tsx";

/** Renders its children only for administrators; others learn why the page is empty. */
export function AdminOnly(props: { children: JSX.Element }): JSX.Element {
  const session = useSession();
  return (
    <Show
      when={session.info()?.account.is_admin}
      fallback={
        <section class="page">
          <EmptyState title="Administrators only">
            <p>Ask an administrator of this console for access.</p>
          </EmptyState>
        </section>
      }
    >
      {props.children}
    </Show>
  );
}
