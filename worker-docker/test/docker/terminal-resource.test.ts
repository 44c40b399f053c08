import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABEL_MANAGED, LABEL_NODE } from "../../src/docker/container-client.ts";
import {
  containersWith,
  ctx,
  eventually,
  failureOf,
  hostProcessesWith,
  marker,
  type ResourceResult,
  type Started,
  startBackend,
  type TerminalResult,
} from "./harness.ts";

let s: Started;
let sessionId: string;

const PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

function term(command: string): Promise<TerminalResult> {
  return s.cap("terminalExec").run({ session_id: sessionId, command, create_if_missing: true }, ctx()) as Promise<TerminalResult>;
}

function resource(file_path: string, action: "validate" | "read", id = sessionId): Promise<ResourceResult> {
  return s.cap("terminalResource").run({ session_id: id, file_path, action }, ctx()) as Promise<ResourceResult>;
}

beforeAll(async () => {
  s = await startBackend();
  sessionId = marker("sess");
  const made = await term(
    [
      `echo ${PNG_1PX} | base64 -d > pixel.png`,
      "echo '{\"a\": 1}' > data.json",
      "printf 'plain words' > notes",
      "printf 'not a png' > fake.png",
      "printf '\\000\\001\\002' > blob.bin",
      "mkdir -p dir",
      "ln -s /etc/passwd passwd-link",
      "ln -s /nowhere dangling",
      "head -c 2097152 /dev/zero > big.bin",
      "printf secret > locked && chmod 000 locked",
    ].join(" && "),
  );
  expect(made.exit_code).toBe(0);
});

afterAll(async () => {
  await s?.backend.close();
  expect(await containersWith({ [LABEL_MANAGED]: "true", [LABEL_NODE]: s.config.nodeId })).toEqual([]);
});

describe("terminalResource", () => {
  it("reads a file as base64 with its type and size", async () => {
    const r = await resource("/workspace/pixel.png", "read");
    expect(r).toEqual({
      session_id: sessionId,
      file_path: "/workspace/pixel.png",
      mime_type: "image/png",
      size_bytes: Buffer.from(PNG_1PX, "base64").length,
      blob: PNG_1PX,
    });
  });

  it("validates without content, resolving relative paths in the working directory", async () => {
    const r = await resource("pixel.png", "validate");
    expect(r.blob).toBeUndefined();
    expect(r).toMatchObject({ mime_type: "image/png", size_bytes: Buffer.from(PNG_1PX, "base64").length });
  });

  it.each([
    ["data.json", "application/json"],
    ["notes", "text/plain"],
    ["fake.png", "text/plain"],
    ["blob.bin", "application/octet-stream"],
  ])("tells the type of %s: %s", async (file, mime) => {
    expect((await resource(file, "validate")).mime_type).toBe(mime);
  });

  it("follows a symlink to /etc/passwd inside the container, never on the host", async () => {
    const inside = (await term("cat /etc/passwd")).stdout;
    const r = await resource("/workspace/passwd-link", "read");
    const content = Buffer.from(r.blob ?? "", "base64").toString("utf8");
    expect(content).toBe(inside);
    expect(content).toContain("sandbox:x:1000:1000");
    expect(r.size_bytes).toBe(Buffer.byteLength(inside));
    const host = await readFile("/etc/passwd", "utf8");
    expect(content).not.toBe(host);
  });

  it.each([
    ["/workspace/missing", "file_not_found"],
    ["dangling", "file_not_found"],
    ["/workspace/dir", "path_is_directory"],
    ["/", "path_is_directory"],
    ["locked", "file_not_found"],
    ["/dev/zero", "invalid_argument"],
  ])("answers %s with %s", async (file, code) => {
    expect(await failureOf(resource(file, "validate"))).toMatchObject({ code });
  });

  it("refuses to read a file above the output limit but validates it", async () => {
    expect(await failureOf(resource("big.bin", "read"))).toMatchObject({ code: "file_too_large" });
    expect(await resource("big.bin", "validate")).toMatchObject({ size_bytes: 2_097_152 });
  });

  it("answers session_not_found for an unknown session and bad payloads with invalid_argument", async () => {
    expect(await failureOf(resource("/etc/passwd", "read", marker("nobody")))).toMatchObject({ code: "session_not_found" });
    expect(
      await failureOf(s.cap("terminalResource").run({ session_id: sessionId, file_path: "x", action: "write" }, ctx())),
    ).toEqual({ code: "invalid_argument", message: "action: must be validate or read" });
    expect(
      await failureOf(s.cap("terminalResource").run({ session_id: sessionId, file_path: "a\0b", action: "read" }, ctx())),
    ).toEqual({ code: "invalid_argument", message: "file_path: must not contain NUL characters" });
  });

  it("reads while a command runs in the session", async () => {
    const tag = marker("slow");
    let finished = false;
    const slow = term(`sh -c 'sleep 2' ${tag}; echo done`).finally(() => {
      finished = true;
    });
    expect(await eventually(async () => (await hostProcessesWith(tag)).length > 0, 10_000, 50)).toBe(true);
    expect((await resource("data.json", "read")).size_bytes).toBe(9);
    // The read was served while the command was still running.
    expect(finished).toBe(false);
    expect((await hostProcessesWith(tag)).length).toBeGreaterThan(0);
    expect((await slow).stdout).toBe("done\n");
  });
});
