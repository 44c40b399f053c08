import { useSearchParams } from "@solidjs/router";
import { createMemo, createSignal, For, type JSX, Show } from "solid-js";
import { api, errorMessage } from "../api/client.ts";
import type { CreatedWorker, InflightCapability, WorkerItem, WorkerStatusFilter } from "../api/types.ts";
import { AdminOnly } from "../components/admin-only.tsx";
import { CopyButton } from "../components/copy-button.tsx";
import { DataTable } from "../components/data-table.tsx";
import { DeleteDialog, RowDeleteButton } from "../components/delete-dialog.tsx";
import { DoneDialog } from "../components/dialog.tsx";
import { EmptyState, ErrorBanner } from "../components/feedback.tsx";
import { LoadBar } from "../components/load-bar.tsx";
import { Page } from "../components/page.tsx";
import { createBusy } from "../lib/busy.ts";
import { formatRelative, formatTimestamp } from "../lib/format.ts";
import { createNow } from "../lib/now.ts";
import { createPoll } from "../lib/poll.ts";
import { setPageTitle } from "../lib/title.ts";

/** How often the page refreshes stats, the table and load while it is visible. */
export const WORKERS_POLL_MS = 3000;
const DEFAULT_PAGE_SIZE = 20;
const STATUS_FILTERS: readonly WorkerStatusFilter[] = ["all", "online", "offline"];

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function positiveInt(v: string | undefined, fallback: number, max: number): number {
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, max) : fallback;
}

function isStale(w: WorkerItem, staleAfterSec: number, now: number): boolean {
  if (w.status !== "online" || !w.last_seen_at) return false;
  return now - Date.parse(w.last_seen_at) > staleAfterSec * 1000;
}

function StatCard(props: { label: string; value: number | undefined; tone: string; hint?: string }): JSX.Element {
  return (
    <div class={`stat ${props.tone}`}>
      <span class="stat-label">{props.label}</span>
      <span class="stat-value">{props.value ?? "–"}</span>
      <Show when={props.hint}>
        <span class="stat-hint">{props.hint}</span>
      </Show>
    </div>
  );
}

function WorkerCreatedDialog(props: { worker: CreatedWorker; onClose: () => void }): JSX.Element {
  return (
    <DoneDialog title="Worker created" onClose={props.onClose}>
      <p>
        Run this on the host with Docker that should execute code. It contains the worker's secret, which is shown only this once.
      </p>
      <pre class="command" data-testid="worker-command">
        {props.worker.command}
      </pre>
      <div class="dialog-inline-actions">
        <CopyButton text={props.worker.command} label="Copy command" />
      </div>
      <p class="hint">
        Worker id <code>{props.worker.node_id}</code>. It appears online here as soon as it connects.
      </p>
    </DoneDialog>
  );
}

function WorkersView(): JSX.Element {
  setPageTitle("Workers");
  const [params, setParams] = useSearchParams();
  const status = (): WorkerStatusFilter => {
    const s = first(params.status);
    return STATUS_FILTERS.includes(s as WorkerStatusFilter) ? (s as WorkerStatusFilter) : "all";
  };
  const page = (): number => positiveInt(first(params.page), 1, 1_000_000);
  const pageSize = (): number => positiveInt(first(params.page_size), DEFAULT_PAGE_SIZE, 100);

  const poll = createPoll(
    () => `${status()}|${page()}|${pageSize()}`,
    async () => {
      const [list, stats, inflight] = await Promise.all([
        api.listWorkers(page(), pageSize(), status()),
        api.workerStats(),
        api.workerInflight(),
      ]);
      return { list, stats, inflight };
    },
    WORKERS_POLL_MS,
  );
  const now = createNow(1000);
  const { busy: creating, run } = createBusy();
  const [createError, setCreateError] = createSignal<string>();
  const [created, setCreated] = createSignal<CreatedWorker>();
  const [deleting, setDeleting] = createSignal<WorkerItem>();

  const load = createMemo(() => {
    const byNode = new Map<string, Map<string, InflightCapability>>();
    for (const w of poll.data()?.inflight.workers ?? []) {
      byNode.set(w.node_id, new Map(w.capabilities.map((c) => [c.name, c])));
    }
    return byNode;
  });
  const totalPages = (): number => {
    const d = poll.data();
    return d ? Math.max(1, Math.ceil(d.list.total / d.list.page_size)) : 1;
  };
  const staleAfter = (): number => poll.data()?.stats.stale_after_sec ?? 30;

  const createWorker = (): Promise<void> =>
    run(
      async () => {
        setCreateError(undefined);
        setCreated(await api.createWorker());
        await poll.refresh();
      },
      (err) => setCreateError(errorMessage(err)),
    );

  return (
    <Page
      id="workers"
      title="Workers"
      lede="Hosts that run code in Docker. They dial out to this console; the page refreshes every few seconds."
      actions={
        <button type="button" class="button primary" onClick={() => void createWorker()} disabled={creating()}>
          {creating() ? "Creating…" : "Add worker"}
        </button>
      }
    >
      <ErrorBanner message={createError()} onDismiss={() => setCreateError(undefined)} />

      <section class="stats" aria-label="Worker counts">
        <StatCard label="Total" value={poll.data()?.stats.total} tone="neutral" />
        <StatCard label="Online" value={poll.data()?.stats.online} tone="ok" />
        <StatCard label="Offline" value={poll.data()?.stats.offline} tone="muted" />
        <StatCard label="Stale" value={poll.data()?.stats.stale} tone="warn" hint={`no heartbeat for ${staleAfter()} s`} />
      </section>

      <div class="toolbar">
        <label class="inline-field">
          <span>Status</span>
          <select
            name="status"
            value={status()}
            onChange={(e) =>
              setParams({
                status: e.currentTarget.value === "all" ? undefined : e.currentTarget.value,
                page: undefined,
              })
            }
          >
            <For each={STATUS_FILTERS}>
              {(s) => <option value={s}>{s === "all" ? "All" : s === "online" ? "Online" : "Offline"}</option>}
            </For>
          </select>
        </label>
        <span class="toolbar-note" aria-live="polite">
          <Show when={poll.data()}>
            {(d) => (
              <>
                {d().list.total} {d().list.total === 1 ? "worker" : "workers"}
                <Show when={status() !== "all"}> {status()}</Show>
              </>
            )}
          </Show>
        </span>
      </div>

      <DataTable
        caption="Workers"
        class="workers-table"
        columns={["Worker", "Status", "Capabilities and load", "Labels", "Version", "Last seen", ""]}
        rows={poll.data()?.list.items}
        poll={poll}
        loadingLabel="Loading workers…"
        empty={
          <Show
            when={page() > 1}
            fallback={
              <EmptyState title={status() === "all" ? "No workers yet" : `No ${status()} workers`}>
                <Show when={status() === "all"} fallback={<p>Change the status filter to see the others.</p>}>
                  <p>Add a worker and run its start command on a host with Docker.</p>
                </Show>
              </EmptyState>
            }
          >
            <EmptyState title="This page is empty">
              <button type="button" class="button" onClick={() => setParams({ page: undefined })}>
                Go to the first page
              </button>
            </EmptyState>
          </Show>
        }
      >
        {(w) => (
          <tr data-node-id={w.node_id}>
            <th scope="row">
              <span class="cell-strong">{w.node_name || "Not connected yet"}</span>
              <code class="subtle">{w.node_id}</code>
              <Show when={w.executor_kind}>
                <span class="subtle">{w.executor_kind}</span>
              </Show>
            </th>
            <td>
              <Show
                when={isStale(w, staleAfter(), now())}
                fallback={<span class={`badge ${w.status === "online" ? "ok" : "muted"}`}>{w.status}</span>}
              >
                <span class="badge warn" title={`No heartbeat for more than ${staleAfter()} s`}>
                  stale
                </span>
              </Show>
            </td>
            <td>
              <Show when={w.capabilities.length > 0} fallback={<span class="subtle">—</span>}>
                <div class="loads">
                  <For each={w.capabilities}>
                    {(cap) => (
                      <LoadBar
                        name={cap.name}
                        inflight={load().get(w.node_id)?.get(cap.name)?.inflight ?? 0}
                        max={load().get(w.node_id)?.get(cap.name)?.max_inflight ?? cap.max_inflight}
                      />
                    )}
                  </For>
                </div>
              </Show>
            </td>
            <td>
              <Show when={Object.keys(w.labels ?? {}).length > 0} fallback={<span class="subtle">—</span>}>
                <ul class="chips" aria-label="Labels">
                  <For each={Object.entries(w.labels)}>
                    {([k, v]) => (
                      <li class="chip">
                        {k}
                        <Show when={v}>={v}</Show>
                      </li>
                    )}
                  </For>
                </ul>
              </Show>
            </td>
            <td>{w.version || <span class="subtle">—</span>}</td>
            <td title={formatTimestamp(w.last_seen_at)}>{formatRelative(w.last_seen_at, now())}</td>
            <td class="cell-actions">
              <RowDeleteButton label={`Delete worker ${w.node_name || w.node_id}`} onClick={() => setDeleting(w)} />
            </td>
          </tr>
        )}
      </DataTable>
      <Show when={totalPages() > 1 || page() > 1}>
        <nav class="pagination" aria-label="Pages">
          <button
            type="button"
            class="button small"
            disabled={page() <= 1}
            onClick={() => setParams({ page: page() - 1 > 1 ? String(page() - 1) : undefined })}
          >
            Previous
          </button>
          <span aria-current="page">
            Page {page()} of {totalPages()}
          </span>
          <button
            type="button"
            class="button small"
            disabled={page() >= totalPages()}
            onClick={() => setParams({ page: String(page() + 1) })}
          >
            Next
          </button>
        </nav>
      </Show>

      <Show when={created()}>{(w) => <WorkerCreatedDialog worker={w()} onClose={() => setCreated(undefined)} />}</Show>
      <Show when={deleting()}>
        {(w) => (
          <DeleteDialog
            title="Delete worker?"
            confirmLabel="Delete worker"
            onClose={() => setDeleting(undefined)}
            remove={() => api.deleteWorker(w().node_id)}
            refresh={() => poll.refresh()}
          >
            <p>
              <strong>{w().node_name || w().node_id}</strong> will be disconnected at once and its credential revoked. Work
              running on it fails. To use the host again, add a new worker.
            </p>
          </DeleteDialog>
        )}
      </Show>
    </Page>
  );
}

/** Admin view of the worker fleet: stats, a filterable paged table with live load, create and delete. */
export function WorkersPage(): JSX.Element {
  return (
    <AdminOnly>
      <WorkersView />
    </AdminOnly>
  );
}
