import type { SessionView } from "@onlyboxes/proto/contracts";
import { CliError, type RestClient } from "./rest.ts";
import type { Sinks } from "./run.ts";

/** `POST /api/v1/sessions`: what a new session's answer holds. */
type CreatedSession = Pick<SessionView, "session_id" | "lease_expires_unix_ms" | "created_at">;

/** Starts a session (its container is created now) and prints its id on stdout, for `$(onlyboxes session new)`. */
export async function sessionNew(rest: RestClient, leaseSec: number | undefined, sinks: Sinks): Promise<void> {
  const res = await rest.call("/sessions", { method: "POST", json: leaseSec === undefined ? {} : { lease_ttl_sec: leaseSec } });
  const created = (await res.json()) as CreatedSession;
  await sinks.stdout(`${created.session_id}\n`);
}

/** Prints the token's account's live sessions, one a line under a header. */
export async function sessionList(rest: RestClient, sinks: Sinks): Promise<void> {
  const res = await rest.call("/sessions");
  const { items } = (await res.json()) as { items: SessionView[] };
  await sinks.stdout(formatSessions(items, Date.now()));
}

/** The table `session ls` prints: id, age of the last use, time left on the lease, busy. */
export function formatSessions(items: readonly SessionView[], now: number): string {
  const rows = [
    ["SESSION", "LAST USED", "EXPIRES IN", "BUSY"],
    ...items.map((s) => [
      s.session_id,
      `${duration(now - Date.parse(s.last_used_at))} ago`,
      duration(s.lease_expires_unix_ms - now),
      s.busy ? "yes" : "no",
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  const lines = rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
  return `${lines.join("\n")}\n`;
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

/** Ends each session; goes on past a failure and throws one CliError naming every session that could not be ended. */
export async function sessionRemove(rest: RestClient, sessions: readonly string[], sinks: Sinks): Promise<void> {
  const failed: string[] = [];
  for (const id of sessions) {
    try {
      await rest.call(`/sessions/${encodeURIComponent(id)}`, { method: "DELETE" });
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      failed.push(id);
      await sinks.stderr(`onlyboxes: ${id}: ${err.message}\n`);
    }
  }
  if (failed.length > 0) throw new CliError(`could not end ${failed.length} of ${sessions.length} sessions`);
}
