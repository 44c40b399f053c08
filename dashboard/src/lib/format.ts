const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto", style: "long" });

/** "12 seconds ago", "in 3 minutes", "yesterday"; "never" for a missing time. */
export function formatRelative(iso: string | null | undefined, now: number): string {
  if (!iso) return "never";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "unknown";
  const diffSec = Math.round((then - now) / 1000);
  const abs = Math.abs(diffSec);
  if (abs < 5) return "just now";
  if (abs < 60) return relative.format(diffSec, "second");
  if (abs < 3600) return relative.format(Math.round(diffSec / 60), "minute");
  if (abs < 86_400) return relative.format(Math.round(diffSec / 3600), "hour");
  return relative.format(Math.round(diffSec / 86_400), "day");
}

/** A duration such as "850 ms", "4.2 s" or "3 min 05 s"; an em dash when unknown. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSec = Math.round(ms / 1000);
  const min = Math.floor(totalSec / 60);
  const sec = totalSec % 60;
  if (min < 60) return `${min} min ${String(sec).padStart(2, "0")} s`;
  return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, "0")} min`;
}

/** Seconds left until `iso` as "m:ss", or "expired" once it has passed. */
export function formatCountdown(iso: string, now: number): string {
  const left = Math.floor((Date.parse(iso) - now) / 1000);
  if (Number.isNaN(left)) return "unknown";
  if (left <= 0) return "expired";
  const min = Math.floor(left / 60);
  return `${min}:${String(left % 60).padStart(2, "0")}`;
}

/** A full local date and time for tooltips. */
export function formatTimestamp(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
