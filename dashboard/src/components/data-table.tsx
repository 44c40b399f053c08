import { For, type JSX, Show } from "solid-js";
import type { Poll } from "../lib/poll.ts";
import { ErrorBanner, Loading } from "./feedback.tsx";

export interface DataTableProps<T> {
  /** Read by screen readers as the table's name. */
  caption: string;
  /** Column headings; an empty string is an actions column (named for screen readers only). */
  columns: readonly string[];
  rows: readonly T[] | undefined;
  /** The list's poll: its first load shows a spinner, its error a banner whose retry refreshes it. */
  poll: Pick<Poll<unknown>, "loading" | "error" | "refresh">;
  loadingLabel: string;
  /** Shown once the first answer came back with no rows. */
  empty: JSX.Element;
  class?: string;
  children: (row: T) => JSX.Element;
}

/** A polled list: its error banner, a spinner until the first answer, an empty state, or the table. */
export function DataTable<T>(props: DataTableProps<T>): JSX.Element {
  return (
    <>
      <ErrorBanner message={props.poll.error()} onRetry={() => void props.poll.refresh()} />
      <Show when={!props.poll.loading()} fallback={<Loading label={props.loadingLabel} />}>
        <Show when={(props.rows?.length ?? 0) > 0} fallback={<Show when={props.rows}>{props.empty}</Show>}>
          <div class="table-wrap">
            <table class={props.class ? `table ${props.class}` : "table"}>
              <caption class="sr-only">{props.caption}</caption>
              <thead>
                <tr>
                  <For each={props.columns}>
                    {(c) => <th scope="col">{c === "" ? <span class="sr-only">Actions</span> : c}</th>}
                  </For>
                </tr>
              </thead>
              <tbody>
                <For each={props.rows}>{(row) => props.children(row)}</For>
              </tbody>
            </table>
          </div>
        </Show>
      </Show>
    </>
  );
}
