import { describe, expect, it } from "vitest";
import { call } from "./helpers.ts";

describe("security headers", () => {
  // A dashboard API answer, an unknown API path and the health check.
  it.each(["/api/v1/console/session", "/api/v1/nothing-here", "/healthz"])(
    "%s carries a CSP that forbids framing, and Referrer-Policy",
    async (path) => {
      const res = await call(path);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("strict-transport-security")).toBeNull();
    },
  );
});
