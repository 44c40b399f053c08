import { render } from "@solidjs/testing-library";
import { vi } from "vitest";
import type { SessionInfo } from "./api/types.ts";
import { App } from "./app.tsx";

/** One recorded request to the fake console. */
export interface RecordedCall {
  method: string;
  path: string;
  body: unknown;
}

type Handler = (call: RecordedCall) => { status: number; body?: unknown } | Promise<{ status: number; body?: unknown }>;

/**
 * A stand-in for the console's REST API at the fetch seam: routes are "METHOD /path"
 * (query string ignored); unknown routes answer 404 so a test notices a stray call.
 */
export function fakeConsole(routes: Record<string, Handler>): {
  calls: RecordedCall[];
  set: (route: string, h: Handler) => void;
} {
  const table = new Map(Object.entries(routes));
  const calls: RecordedCall[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input), "http://console.test");
    const method = init?.method ?? "GET";
    const body = typeof init?.body === "string" ? (JSON.parse(init.body) as unknown) : undefined;
    const call = { method, path: `${url.pathname}${url.search}`, body };
    calls.push(call);
    const handler = table.get(`${method} ${url.pathname}`);
    if (!handler) return Response.json({ error: "not found" }, { status: 404 });
    const res = await handler(call);
    if (res.status === 204) return new Response(null, { status: 204 });
    return Response.json(res.body ?? {}, { status: res.status });
  });
  vi.stubGlobal("fetch", fetchMock);
  return { calls, set: (route, h) => table.set(route, h) };
}

/** A session body as login and GET /session return it. */
export function sessionBody(
  overrides: { is_admin?: boolean; registration_enabled?: boolean; username?: string } = {},
): SessionInfo {
  return {
    authenticated: true,
    account: { account_id: "acc_1", username: overrides.username ?? "alice", is_admin: overrides.is_admin ?? false },
    registration_enabled: overrides.registration_enabled ?? false,
    console_version: "0.1.0",
    console_repo_url: "https://github.com/onlyboxes/onlyboxes-workerd",
  };
}

/** Renders the whole dashboard at `path`, as a browser opening that address would. */
export function renderAt(path: string): ReturnType<typeof render> {
  window.history.replaceState(null, "", path);
  return render(() => <App />);
}
