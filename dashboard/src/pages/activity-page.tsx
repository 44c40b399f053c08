import { createSignal, type JSX, Show } from "solid-js";
import { api } from "../api/client.ts";
import type { TaskStatus, TerminalSessionSummary } from "../api/types.ts";
import { DataTable } from "../components/data-table.tsx";
import { DeleteDialog, RowDeleteButton } from "../components/delete-dialog.tsx";
import { EmptyState } from "../components/feedback.tsx";
import { Page } from "../components/page.tsx";
import { formatCountdown, formatDuration, formatRelative, formatTimestamp } from "../lib/format.ts";
import { createNow } from "../lib/now.ts";
import { createPoll } from "../lib/poll.ts";
import { setPageTitle } from "../lib/title.ts";

/** How often tasks and sessions refresh while the page is visible. */
export const ACTIVITY_POLL_MS = 5000;

const STATUS_TONE: Record<TaskStatus, string> = {
  queued: "neutral",
  dispatched: "info",
  running: "info",
  succeeded: "ok",
  failed: "bad",
  timeout: "warn",
  canceled: "muted",
};

const FINISHED: ReadonlySet<TaskStatus> = new Set(["succeeded", "failed", "timeout", "canceled"]);

/** The signed-in account's recent tasks and live terminal sessions (with lease countdown). */
export function ActivityPage(): JSX.Element {
  setPageTitle("Tasks and sessions");
  const tasks = createPoll(
    () => "tasks",
    () => api.listTasks(50),
    ACTIVITY_POLL_MS,
  );
  const sessions = createPoll(
    () => "sessions",
    () => api.listSessions(),
    ACTIVITY_POLL_MS,
  );
  const now = createNow(1000);
  const [ending, setEnding] = createSignal<TerminalSessionSummary>();
  const liveSessions = () => (sessions.data()?.items ?? []).filter((s) => Date.parse(s.lease_expires_at) > now());

  return (
    <Page
      id="activity"
      title="Tasks and sessions"
      lede="What the tokens of your account ran recently, and the terminal sessions still alive."
    >
      <section class="block" aria-labelledby="sessions-title">
        <h2 id="sessions-title">Terminal sessions</h2>
        <DataTable
          caption="Live terminal sessions"
          columns={["Session", "Worker", "Created", "Last used", "Lease left", ""]}
          rows={sessions.data() ? liveSessions() : undefined}
          poll={sessions}
          loadingLabel="Loading sessions…"
          empty={
            <EmptyState title="No live sessions">
              <p>
                A <code>terminalExec</code> call opens one; it lives until its lease runs out.
              </p>
            </EmptyState>
          }
        >
          {(s) => (
            <tr>
              <th scope="row">
                <code>{s.session_id}</code>
              </th>
              <td>
                <code class="subtle">{s.node_id}</code>
              </td>
              <td title={formatTimestamp(s.created_at)}>{formatRelative(s.created_at, now())}</td>
              <td title={formatTimestamp(s.last_used_at)}>{formatRelative(s.last_used_at, now())}</td>
              <td title={`Expires ${formatTimestamp(s.lease_expires_at)}`}>
                <span class="countdown">{formatCountdown(s.lease_expires_at, now())}</span>
              </td>
              <td class="cell-actions">
                <RowDeleteButton text="End" label={`End session ${s.session_id}`} onClick={() => setEnding(s)} />
              </td>
            </tr>
          )}
        </DataTable>
        <Show when={ending()}>
          {(s) => (
            <DeleteDialog
              title="End session?"
              confirmLabel="End session"
              onClose={() => setEnding(undefined)}
              remove={() => api.endSession(s().session_id)}
              refresh={() => sessions.refresh()}
            >
              <p>
                Session <code>{s().session_id}</code> and its container are removed at once, with every file in it. A command
                running in it fails.
              </p>
            </DeleteDialog>
          )}
        </Show>
      </section>

      <section class="block" aria-labelledby="tasks-title">
        <h2 id="tasks-title">Recent tasks</h2>
        <DataTable
          caption="Recent tasks"
          columns={["Task", "Capability", "Status", "Duration", "Created"]}
          rows={tasks.data()?.items}
          poll={tasks}
          loadingLabel="Loading tasks…"
          empty={
            <EmptyState title="No tasks yet">
              <p>
                Tasks created with <code>POST /api/v1/tasks</code> show up here.
              </p>
            </EmptyState>
          }
        >
          {(t) => (
            <tr>
              <th scope="row">
                <code>{t.task_id}</code>
                <Show when={t.request_id}>
                  <span class="subtle">request {t.request_id}</span>
                </Show>
              </th>
              <td>{t.capability}</td>
              <td>
                <span class={`badge ${STATUS_TONE[t.status] ?? "neutral"}`}>{t.status}</span>
                <Show when={t.error_code}>
                  <code class="subtle">{t.error_code}</code>
                </Show>
              </td>
              <td>
                <Show when={t.completed_at === null && !FINISHED.has(t.status)} fallback={formatDuration(t.duration_ms)}>
                  <span class="subtle-inline" title="Still running">
                    {formatDuration(Math.max(0, now() - Date.parse(t.created_at)))} so far
                  </span>
                </Show>
              </td>
              <td title={formatTimestamp(t.created_at)}>{formatRelative(t.created_at, now())}</td>
            </tr>
          )}
        </DataTable>
        <Show when={(tasks.data()?.total ?? 0) > (tasks.data()?.items.length ?? 0)}>
          <p class="hint">
            Showing the latest {tasks.data()?.items.length} of {tasks.data()?.total} tasks.
          </p>
        </Show>
      </section>
    </Page>
  );
}
