import { For, type JSX, Show } from "solid-js";
import { api } from "../api/client.ts";
import type { TaskStatus } from "../api/types.ts";
import { EmptyState, ErrorBanner, Loading } from "../components/feedback.tsx";
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
  const liveSessions = () => (sessions.data()?.items ?? []).filter((s) => Date.parse(s.lease_expires_at) > now());

  return (
    <section class="page" aria-labelledby="activity-title">
      <header class="page-header">
        <div>
          <h1 id="activity-title">Tasks and sessions</h1>
          <p class="page-lede">What the tokens of your account ran recently, and the terminal sessions still alive.</p>
        </div>
      </header>

      <section class="block" aria-labelledby="sessions-title">
        <h2 id="sessions-title">Terminal sessions</h2>
        <ErrorBanner message={sessions.error()} onRetry={() => void sessions.refresh()} />
        <Show when={!sessions.loading()} fallback={<Loading label="Loading sessions…" />}>
          <Show
            when={liveSessions().length > 0}
            fallback={
              <Show when={sessions.data()}>
                <EmptyState title="No live sessions">
                  <p>
                    A <code>terminalExec</code> call opens one; it lives until its lease runs out.
                  </p>
                </EmptyState>
              </Show>
            }
          >
            <div class="table-wrap">
              <table class="table">
                <caption class="sr-only">Live terminal sessions</caption>
                <thead>
                  <tr>
                    <th scope="col">Session</th>
                    <th scope="col">Worker</th>
                    <th scope="col">Created</th>
                    <th scope="col">Last used</th>
                    <th scope="col">Lease left</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={liveSessions()}>
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
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
          </Show>
        </Show>
      </section>

      <section class="block" aria-labelledby="tasks-title">
        <h2 id="tasks-title">Recent tasks</h2>
        <ErrorBanner message={tasks.error()} onRetry={() => void tasks.refresh()} />
        <Show when={!tasks.loading()} fallback={<Loading label="Loading tasks…" />}>
          <Show
            when={(tasks.data()?.items.length ?? 0) > 0}
            fallback={
              <Show when={tasks.data()}>
                <EmptyState title="No tasks yet">
                  <p>
                    Tasks created with <code>POST /api/v1/tasks</code> show up here.
                  </p>
                </EmptyState>
              </Show>
            }
          >
            <div class="table-wrap">
              <table class="table">
                <caption class="sr-only">Recent tasks</caption>
                <thead>
                  <tr>
                    <th scope="col">Task</th>
                    <th scope="col">Capability</th>
                    <th scope="col">Status</th>
                    <th scope="col">Duration</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={tasks.data()?.items}>
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
                          <Show
                            when={t.completed_at === null && !FINISHED.has(t.status)}
                            fallback={formatDuration(t.duration_ms)}
                          >
                            <span class="subtle-inline" title="Still running">
                              {formatDuration(Math.max(0, now() - Date.parse(t.created_at)))} so far
                            </span>
                          </Show>
                        </td>
                        <td title={formatTimestamp(t.created_at)}>{formatRelative(t.created_at, now())}</td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
            <Show when={(tasks.data()?.total ?? 0) > (tasks.data()?.items.length ?? 0)}>
              <p class="hint">
                Showing the latest {tasks.data()?.items.length} of {tasks.data()?.total} tasks.
              </p>
            </Show>
          </Show>
        </Show>
      </section>
    </section>
  );
}
