import { fireEvent, screen, waitFor, within } from "@solidjs/testing-library";
import { describe, expect, it } from "vitest";
import type { TaskSummary, TerminalSessionSummary } from "../api/types.ts";
import { fakeConsole, renderAt, sessionBody } from "../test-utils.tsx";

const iso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();

function task(id: string, status: TaskSummary["status"], extra: Partial<TaskSummary> = {}): TaskSummary {
  return {
    task_id: id,
    request_id: null,
    capability: "pythonExec",
    status,
    error_code: null,
    created_at: iso(-60_000),
    updated_at: iso(-58_000),
    completed_at: status === "running" ? null : iso(-58_000),
    duration_ms: status === "running" ? null : 1500,
    ...extra,
  };
}

function serve(tasks: TaskSummary[], sessions: TerminalSessionSummary[]) {
  return fakeConsole({
    "GET /api/v1/console/session": () => ({ status: 200, body: sessionBody() }),
    "GET /api/v1/console/tasks": () => ({ status: 200, body: { items: tasks, total: tasks.length } }),
    "GET /api/v1/console/sessions": () => ({ status: 200, body: { items: sessions, total: sessions.length } }),
  });
}

describe("tasks and sessions page", () => {
  it("lists recent tasks with status, capability and duration", async () => {
    const fake = serve(
      [
        task("task_ok", "succeeded"),
        task("task_bad", "failed", { error_code: "no_worker", capability: "echo", duration_ms: 12 }),
        task("task_run", "running"),
      ],
      [],
    );
    renderAt("/activity");
    const ok = (await screen.findByText("task_ok")).closest("tr");
    expect(ok?.textContent).toContain("succeeded");
    expect(ok?.textContent).toContain("1.5 s");
    const bad = screen.getByText("task_bad").closest("tr");
    expect(bad?.textContent).toContain("no_worker");
    expect(bad?.textContent).toContain("12 ms");
    expect(bad?.textContent).toContain("echo");
    expect(screen.getByText("task_run").closest("tr")?.textContent).toMatch(/\d+(\.\d)? s so far/);
    expect(fake.calls.some((c) => c.path === "/api/v1/console/tasks?limit=50")).toBe(true);
    expect(screen.getByText("No live sessions")).toBeTruthy();
  });

  it("shows live sessions with a lease countdown", async () => {
    serve(
      [],
      [
        {
          session_id: "sess_abc",
          node_id: "node-1",
          created_at: iso(-120_000),
          last_used_at: iso(-10_000),
          lease_expires_at: iso(95_000),
        },
      ],
    );
    renderAt("/activity");
    const row = (await screen.findByText("sess_abc")).closest("tr");
    if (!row) throw new Error("no row");
    expect(within(row).getByText(/^1:3[45]$/)).toBeTruthy();
    expect(row.textContent).toContain("node-1");
    expect(screen.getByText("No tasks yet")).toBeTruthy();
  });

  it("ends a session after confirmation, and its row disappears", async () => {
    let live: TerminalSessionSummary[] = [
      {
        session_id: "sess_end",
        node_id: "node-1",
        created_at: iso(-120_000),
        last_used_at: iso(-10_000),
        lease_expires_at: iso(95_000),
      },
    ];
    const fake = fakeConsole({
      "GET /api/v1/console/session": () => ({ status: 200, body: sessionBody() }),
      "GET /api/v1/console/tasks": () => ({ status: 200, body: { items: [], total: 0 } }),
      "GET /api/v1/console/sessions": () => ({ status: 200, body: { items: live, total: live.length } }),
      "DELETE /api/v1/console/sessions/sess_end": () => {
        live = [];
        return { status: 204 };
      },
    });
    renderAt("/activity");
    fireEvent.click(await screen.findByRole("button", { name: "End session sess_end" }));
    let confirm = await screen.findByRole("alertdialog", { name: "End session?" });
    // Cancel ends nothing.
    fireEvent.click(within(confirm).getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).toBeNull());
    expect(fake.calls.some((c) => c.method === "DELETE")).toBe(false);

    fireEvent.click(screen.getByRole("button", { name: "End session sess_end" }));
    confirm = await screen.findByRole("alertdialog", { name: "End session?" });
    fireEvent.click(within(confirm).getByRole("button", { name: "End session" }));
    await waitFor(() => expect(screen.queryByText("sess_end")).toBeNull());
    expect(fake.calls.filter((c) => c.method === "DELETE").map((c) => c.path)).toEqual(["/api/v1/console/sessions/sess_end"]);
    expect(screen.getByText("No live sessions")).toBeTruthy();
  });
});
