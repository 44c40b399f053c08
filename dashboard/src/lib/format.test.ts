import { describe, expect, it } from "vitest";
import { formatCountdown, formatDuration, formatRelative } from "./format.ts";

const now = Date.parse("2026-01-01T12:00:00Z");

describe("formatRelative", () => {
  it.each([
    ["2026-01-01T12:00:00Z", "just now"],
    ["2026-01-01T11:59:30Z", "30 seconds ago"],
    ["2026-01-01T11:55:00Z", "5 minutes ago"],
    ["2026-01-01T09:00:00Z", "3 hours ago"],
    ["2025-12-31T12:00:00Z", "yesterday"],
  ])("%s → %s", (iso, expected) => {
    expect(formatRelative(iso, now)).toBe(expected);
  });

  it("says never for a worker that has not been seen", () => {
    expect(formatRelative(null, now)).toBe("never");
  });
});

describe("formatDuration", () => {
  it.each([
    [null, "—"],
    [850, "850 ms"],
    [4200, "4.2 s"],
    [185_000, "3 min 05 s"],
    [3_900_000, "1 h 05 min"],
  ])("%s ms → %s", (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });
});

describe("formatCountdown", () => {
  it("counts down minutes and seconds, then says expired", () => {
    expect(formatCountdown("2026-01-01T12:01:05Z", now)).toBe("1:05");
    expect(formatCountdown("2026-01-01T12:00:00Z", now)).toBe("expired");
  });
});
