import { describe, expect, it } from "vitest";
import { formatSessions } from "../src/session.ts";

describe("formatSessions", () => {
  it("prints a header and one aligned line a session", () => {
    const now = Date.parse("2026-01-01T12:00:00Z");
    const text = formatSessions(
      [
        {
          session_id: "sess_a",
          created_at: "2026-01-01T11:00:00.000Z",
          last_used_at: "2026-01-01T11:59:30.000Z",
          lease_expires_unix_ms: now + 15 * 60_000,
          busy: false,
        },
        {
          session_id: "sess_long_id",
          created_at: "2026-01-01T09:00:00.000Z",
          last_used_at: "2026-01-01T09:00:00.000Z",
          lease_expires_unix_ms: now + 90_000,
          busy: true,
        },
      ],
      now,
    );
    expect(text).toBe(
      [
        "SESSION       LAST USED  EXPIRES IN  BUSY",
        "sess_a        30s ago    15m         no",
        "sess_long_id  3h ago     90s         yes",
        "",
      ].join("\n"),
    );
  });

  it("prints only the header when there is no session", () => {
    expect(formatSessions([], 0)).toBe("SESSION  LAST USED  EXPIRES IN  BUSY\n");
  });
});
