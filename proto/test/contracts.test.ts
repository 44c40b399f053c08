import { describe, expect, it } from "vitest";
import { z } from "zod/v4";
import {
  CAPABILITY_CONTRACTS,
  CAPABILITY_NAMES,
  check,
  ECHO_ERRORS,
  ERROR_STATUS,
  echoRequest,
  failedTaskStatus,
  isCapabilityName,
  isErrorCode,
  PYTHON_EXEC_ERRORS,
  pythonExecRequest,
  SESSION_ID_MAX_LENGTH,
  TERMINAL_EXEC_ERRORS,
  TERMINAL_LEASE_LIMIT_SEC,
  TERMINAL_RESOURCE_ERRORS,
  terminalExecArgs,
  terminalExecInput,
  terminalExecPayload,
  terminalExecRequest,
  terminalExecResult,
  terminalResourceInput,
  terminalResourcePayload,
  WORKER_ERROR_CODES,
} from "../index.ts";

function messageOf(schema: z.ZodType, value: unknown, prefix = ""): string {
  const r = check(schema, value, prefix);
  if (r.ok) throw new Error(`expected ${JSON.stringify(value)} to be refused`);
  return r.message;
}

describe("capability inputs", () => {
  it.each<[string, z.ZodType, unknown, string]>([
    ["echo without message", echoRequest, {}, "message: is required"],
    ["echo blank", echoRequest, { message: "  " }, "message: must not be blank"],
    ["echo unknown field", echoRequest, { message: "x", extra: 1 }, "unknown field: extra"],
    ["echo timeout", echoRequest, { message: "x", timeout_ms: 60_001 }, "timeout_ms: must be an integer between 1 and 60000"],
    ["python code type", pythonExecRequest, { code: 42 }, "code: must be a string"],
    [
      "python absolute file",
      pythonExecRequest,
      { code: "1", files: [{ path: "/etc/x", content: "" }] },
      "files.0.path: must be a relative path inside the working directory (no leading /, no empty, . or .. segment)",
    ],
    [
      "python escaping file",
      pythonExecRequest,
      { code: "1", files: [{ path: "a/../../x", content: "" }] },
      "files.0.path: must be a relative path inside the working directory (no leading /, no empty, . or .. segment)",
    ],
    [
      "python file without content",
      pythonExecRequest,
      { code: "1", files: [{ path: "a" }] },
      "files.0: give exactly one of content and content_base64",
    ],
    [
      "python file with both contents",
      pythonExecRequest,
      { code: "1", files: [{ path: "a", content: "", content_base64: "" }] },
      "files.0: give exactly one of content and content_base64",
    ],
    [
      "python file bad base64",
      pythonExecRequest,
      { code: "1", files: [{ path: "a", content_base64: "abc" }] },
      "files.0.content_base64: must be standard base64 (A-Z a-z 0-9 + /, = padding)",
    ],
    [
      "python duplicate file",
      pythonExecRequest,
      {
        code: "1",
        files: [
          { path: "a", content: "" },
          { path: "a", content: "x" },
        ],
      },
      "files.1.path: names a twice",
    ],
    [
      "python too many files",
      pythonExecRequest,
      { code: "1", files: Array.from({ length: 33 }, (_, i) => ({ path: `f${i}`, content: "" })) },
      "files: must hold at most 32 files",
    ],
    [
      "python files too large",
      pythonExecRequest,
      { code: "1", files: [{ path: "a", content_base64: "A".repeat(4 * 700_000) }] },
      "files: must hold at most 2097152 bytes in all (got 2100000); upload larger data through a session's files",
    ],
    ["python reset type", pythonExecRequest, { code: "1", session_id: "s", reset: "yes" }, "reset: must be true or false"],
    [
      "python fractional timeout",
      pythonExecRequest,
      { code: "1", timeout_ms: 1.5 },
      "timeout_ms: must be an integer between 1 and 600000",
    ],
    [
      "terminal lease below",
      terminalExecArgs,
      { command: "ls", lease_ttl_sec: 59 },
      "lease_ttl_sec: must be an integer between 60 and 1800",
    ],
    [
      "terminal lease above",
      terminalExecInput,
      { command: "ls", lease_ttl_sec: 1801 },
      "lease_ttl_sec: must be an integer between 60 and 1800",
    ],
    ["terminal NUL", terminalExecRequest, { command: "a\0b" }, "command: must not contain NUL characters"],
    [
      "terminal session id space",
      terminalExecArgs,
      { command: "ls", session_id: "a b" },
      "session_id: must be printable ASCII without spaces",
    ],
    [
      "terminal session id length",
      terminalExecArgs,
      { command: "ls", session_id: "s".repeat(SESSION_ID_MAX_LENGTH + 1) },
      "session_id: must be at most 128 characters",
    ],
    ["terminal flag", terminalExecArgs, { command: "ls", create_if_missing: "yes" }, "create_if_missing: must be true or false"],
    [
      "resource action",
      terminalResourceInput,
      { session_id: "s", file_path: "/a", action: "delete" },
      "action: must be validate or read",
    ],
    ["resource path", terminalResourceInput, { session_id: "s" }, "file_path: is required"],
  ])("%s: %j", (_label, schema, value, message) => {
    expect(messageOf(schema, value)).toBe(message);
  });

  it("prefixes the field with the boundary's name", () => {
    expect(messageOf(terminalExecInput, { command: "ls", timeout_ms: 5 }, "input")).toBe("input: unknown field: timeout_ms");
    expect(messageOf(echoRequest, { message: 1 }, "input")).toBe("input.message: must be a string");
  });

  it("accepts the contract's examples and keeps optional fields absent", () => {
    expect(check(terminalExecRequest, { command: "ls", request_id: "r1" })).toEqual({
      ok: true,
      data: { command: "ls", request_id: "r1" },
    });
    expect(check(terminalResourceInput, { session_id: "sess_1", file_path: "/tmp/a.png" })).toEqual({
      ok: true,
      data: { session_id: "sess_1", file_path: "/tmp/a.png" },
    });
  });
});

describe("worker payloads", () => {
  it("share the console's field rules and messages", () => {
    const base = { session_id: "ks_1", command: "ls" };
    expect(messageOf(terminalExecPayload, { ...base, session_id: "x".repeat(129) })).toBe(
      messageOf(terminalExecArgs, { command: "ls", session_id: "x".repeat(129) }),
    );
    expect(messageOf(terminalExecPayload, { ...base, command: " " })).toBe(messageOf(terminalExecArgs, { command: " " }));
    expect(messageOf(terminalExecPayload, { ...base, timeout_ms: 600_001 })).toBe(
      messageOf(terminalExecArgs, { command: "ls", timeout_ms: 600_001 }),
    );
  });

  it("need the worker's session key and accept any lease a worker may be configured for", () => {
    expect(messageOf(terminalExecPayload, { command: "ls" })).toBe("session_id: is required");
    expect(check(terminalExecPayload, { session_id: "k", command: "ls", lease_ttl_sec: 1 }).ok).toBe(true);
    expect(
      messageOf(terminalExecPayload, { session_id: "k", command: "ls", lease_ttl_sec: TERMINAL_LEASE_LIMIT_SEC.max + 1 }),
    ).toBe(`lease_ttl_sec: must be an integer between 1 and ${TERMINAL_LEASE_LIMIT_SEC.max}`);
    expect(messageOf(terminalResourcePayload, { session_id: "k", file_path: "/a" })).toBe("action: must be validate or read");
  });
});

describe("results", () => {
  it("the terminal result needs every field of the contract", () => {
    const streams = { stdout: "", stderr: "", stdout_truncated: false, stderr_truncated: false };
    const full: Record<string, unknown> = { session_id: "s", created: true, exit_code: 0, lease_expires_unix_ms: 1, ...streams };
    expect(check(terminalExecResult, full).ok).toBe(true);
    for (const field of Object.keys(full)) {
      const { [field]: _dropped, ...partial } = full;
      expect(messageOf(terminalExecResult, partial)).toMatch(new RegExp(`^${field}: `));
    }
  });
});

describe("JSON Schema", () => {
  it("every input converts with additionalProperties false and its required fields", () => {
    const json = z.toJSONSchema(terminalExecArgs, { io: "input" }) as Record<string, unknown>;
    expect(json.additionalProperties).toBe(false);
    expect(json.required).toEqual(["command"]);
    for (const name of CAPABILITY_NAMES) {
      const c = CAPABILITY_CONTRACTS[name];
      expect((z.toJSONSchema(c.input, { io: "input" }) as Record<string, unknown>).additionalProperties).toBe(false);
      expect((z.toJSONSchema(c.payload, { io: "input" }) as Record<string, unknown>).additionalProperties).toBe(false);
    }
  });
});

describe("error registry", () => {
  it("gives every capability's codes a status, and lets workers send them", () => {
    for (const code of [...ECHO_ERRORS, ...PYTHON_EXEC_ERRORS, ...TERMINAL_EXEC_ERRORS, ...TERMINAL_RESOURCE_ERRORS]) {
      expect(ERROR_STATUS[code]).toBeGreaterThanOrEqual(400);
      expect(WORKER_ERROR_CODES.has(code)).toBe(true);
    }
  });

  it("knows the codes the next issues bring", () => {
    expect(ERROR_STATUS.worker_shutdown).toBe(503);
    expect(ERROR_STATUS.account_run_limit).toBe(429);
    expect(ERROR_STATUS.account_session_limit).toBe(429);
    expect(ERROR_STATUS.login_throttled).toBe(429);
    expect(ERROR_STATUS.payload_too_large).toBe(413);
    expect(ERROR_STATUS.forbidden_origin).toBe(403);
    expect(isErrorCode("protocol_error") && isErrorCode("disk_full")).toBe(true);
    expect(isErrorCode("toString")).toBe(false);
  });

  it("answers a failed task as the contract says: 429, 503, else 502", () => {
    expect(failedTaskStatus("no_capacity")).toBe(429);
    expect(failedTaskStatus("no_worker")).toBe(503);
    expect(failedTaskStatus("worker_shutdown")).toBe(503);
    expect(failedTaskStatus("session_not_found")).toBe(502);
    expect(failedTaskStatus("invalid_argument")).toBe(502);
  });

  it("names only the contract's capabilities", () => {
    expect(CAPABILITY_NAMES).toEqual(["echo", "pythonExec", "terminalExec", "terminalResource"]);
    expect(isCapabilityName("constructor")).toBe(false);
  });
});
