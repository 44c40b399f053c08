import { fireEvent, screen, waitFor, within } from "@solidjs/testing-library";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { WorkerItem } from "../api/types.ts";
import { fakeConsole, renderAt, sessionBody } from "../test-utils.tsx";
import { WORKERS_POLL_MS } from "./workers-page.tsx";

const admin = () => ({ status: 200, body: sessionBody({ is_admin: true }) });

function worker(id: string, name: string, status: "online" | "offline"): WorkerItem {
  return {
    node_id: id,
    node_name: name,
    executor_kind: "docker",
    capabilities: [
      { name: "echo", max_inflight: 4 },
      { name: "pythonExec", max_inflight: 4 },
    ],
    labels: { region: "eu" },
    version: "0.1.0",
    status,
    registered_at: new Date().toISOString(),
    // The console always sends a time here (the registration time until the first heartbeat).
    last_seen_at: new Date(status === "online" ? Date.now() : Date.now() - 3_600_000).toISOString(),
  };
}

/** A fleet of `n` workers served by the list, stats and inflight routes. */
function consoleWithWorkers(fleet: WorkerItem[], inflight = 1) {
  const fake = fakeConsole({
    "GET /api/v1/console/session": admin,
    "GET /api/v1/workers": (call) => {
      const q = new URL(call.path, "http://x").searchParams;
      const status = q.get("status") ?? "all";
      const page = Number(q.get("page") ?? "1");
      const size = Number(q.get("page_size") ?? "20");
      const matching = fleet.filter((w) => status === "all" || w.status === status);
      return {
        status: 200,
        body: { items: matching.slice((page - 1) * size, page * size), total: matching.length, page, page_size: size },
      };
    },
    "GET /api/v1/workers/stats": () => ({
      status: 200,
      body: {
        total: fleet.length,
        online: fleet.filter((w) => w.status === "online").length,
        offline: fleet.filter((w) => w.status === "offline").length,
        stale: 0,
        stale_after_sec: 30,
        generated_at: new Date().toISOString(),
      },
    }),
    "GET /api/v1/workers/inflight": () => ({
      status: 200,
      body: {
        workers: fleet
          .filter((w) => w.status === "online")
          .map((w) => ({ node_id: w.node_id, capabilities: [{ name: "echo", inflight, max_inflight: 4 }] })),
        generated_at: new Date().toISOString(),
      },
    }),
  });
  return fake;
}

function statValue(label: string): string | undefined {
  const card = screen.getByText(label, { selector: ".stat-label" }).closest(".stat");
  return card?.querySelector(".stat-value")?.textContent ?? undefined;
}

describe("workers page", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("shows stats cards and a row per worker with load bars and labels", async () => {
    consoleWithWorkers([worker("n1", "builder-1", "online"), worker("n2", "builder-2", "offline")]);
    renderAt("/workers");
    const row = (await screen.findByText("builder-1")).closest("tr");
    if (!row) throw new Error("no row");
    expect(statValue("Total")).toBe("2");
    expect(statValue("Online")).toBe("1");
    expect(statValue("Offline")).toBe("1");
    expect(statValue("Stale")).toBe("0");
    const echo = within(row).getByRole("meter", { name: "echo in flight" });
    expect(echo.getAttribute("aria-valuenow")).toBe("1");
    expect(echo.getAttribute("aria-valuemax")).toBe("4");
    expect(within(row).getByRole("meter", { name: "pythonExec in flight" }).getAttribute("aria-valuenow")).toBe("0");
    expect(within(row).getByText("region=eu")).toBeTruthy();
    expect(within(row).getByText("online")).toBeTruthy();
    expect(within(row).getByText("just now")).toBeTruthy();
    const offline = screen.getByText("builder-2").closest("tr");
    expect(offline?.textContent).toContain("1 hour ago");
  });

  it("keeps the status filter and page in the URL", async () => {
    const fleet = Array.from({ length: 25 }, (_, i) =>
      worker(`n${i}`, `w-${String(i).padStart(2, "0")}`, i % 2 ? "offline" : "online"),
    );
    const fake = consoleWithWorkers(fleet);
    renderAt("/workers");
    await screen.findByText("w-00");
    expect(screen.getByText("Page 1 of 2")).toBeTruthy();

    fireEvent.click(screen.getByRole("button", { name: "Next" }));
    expect(await screen.findByText("w-20")).toBeTruthy();
    expect(new URLSearchParams(window.location.search).get("page")).toBe("2");

    fireEvent.change(screen.getByLabelText("Status"), { target: { value: "online" } });
    await waitFor(() => expect(new URLSearchParams(window.location.search).get("status")).toBe("online"));
    expect(new URLSearchParams(window.location.search).get("page")).toBeNull();
    await waitFor(() => expect(screen.queryByText("w-01")).toBeNull());
    expect(screen.getByText("w-00")).toBeTruthy();
    expect(fake.calls.some((c) => c.path === "/api/v1/workers?page=1&page_size=20&status=online")).toBe(true);
  });

  it("reads the filter from the URL on load", async () => {
    const fake = consoleWithWorkers([worker("n1", "up", "online"), worker("n2", "down", "offline")]);
    renderAt("/workers?status=offline");
    expect(await screen.findByText("down")).toBeTruthy();
    expect(screen.queryByText("up")).toBeNull();
    expect((screen.getByLabelText("Status") as HTMLSelectElement).value).toBe("offline");
    expect(fake.calls.some((c) => c.path.includes("status=offline"))).toBe(true);
  });

  it("refreshes on its own without a reload", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const fleet = [worker("n1", "builder-1", "offline")];
    consoleWithWorkers(fleet);
    renderAt("/workers");
    const row = (await screen.findByText("builder-1")).closest("tr");
    expect(row?.textContent).toContain("offline");

    fleet[0] = worker("n1", "builder-1", "online");
    await vi.advanceTimersByTimeAsync(WORKERS_POLL_MS);
    await waitFor(() => expect(statValue("Online")).toBe("1"));
    expect(screen.getByText("builder-1").closest("tr")?.textContent).toContain("online");
  });

  it("creates a worker and shows its start command once", async () => {
    const fake = consoleWithWorkers([]);
    fake.set("POST /api/v1/workers", () => ({
      status: 201,
      body: {
        node_id: "11111111-2222",
        command: "WORKER_CONSOLE_URL=http://c WORKER_ID=11111111-2222 WORKER_SECRET=s3cr3t npx onlyboxes-worker",
      },
    }));
    renderAt("/workers");
    expect(await screen.findByText("No workers yet")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Add worker" }));
    const dialog = await screen.findByRole("dialog", { name: "Worker created" });
    expect(within(dialog).getByTestId("worker-command").textContent).toContain("WORKER_SECRET=s3cr3t");
    expect(within(dialog).getByRole("button", { name: "Copy command" })).toBeTruthy();
    fireEvent.keyDown(document, { key: "Escape" });
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(screen.queryByText(/s3cr3t/)).toBeNull();
  });

  it("deletes a worker after confirmation", async () => {
    const fleet = [worker("n1", "builder-1", "online")];
    const fake = consoleWithWorkers(fleet);
    fake.set("DELETE /api/v1/workers/n1", () => {
      fleet.pop();
      return { status: 204 };
    });
    renderAt("/workers");
    fireEvent.click(await screen.findByRole("button", { name: "Delete worker builder-1" }));
    const confirm = await screen.findByRole("alertdialog", { name: "Delete worker?" });
    fireEvent.click(within(confirm).getByRole("button", { name: "Delete worker" }));
    expect(await screen.findByText("No workers yet")).toBeTruthy();
  });

  it("shows an error banner when a refresh fails and keeps the last data", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const fake = consoleWithWorkers([worker("n1", "builder-1", "online")]);
    renderAt("/workers");
    await screen.findByText("builder-1");
    fake.set("GET /api/v1/workers/stats", () => ({ status: 500, body: { error: "internal error" } }));
    await vi.advanceTimersByTimeAsync(WORKERS_POLL_MS);
    expect((await screen.findByRole("alert")).textContent).toContain("internal error");
    expect(screen.getByText("builder-1")).toBeTruthy();
  });

  it("tells a non-admin the page is for administrators", async () => {
    fakeConsole({ "GET /api/v1/console/session": () => ({ status: 200, body: sessionBody() }) });
    renderAt("/workers");
    expect(await screen.findByText("Administrators only")).toBeTruthy();
  });
});
