/**
 * Sessions as a resource and files in them, end to end: the real self-hosted console, its
 * Docker worker and real containers, through REST and through the official MCP SDK client.
 */
import { createHash, randomBytes } from "node:crypto";
import { request } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type CallToolResult, ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import type { FileListResult, FileWriteResult } from "@onlyboxes/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containersOf, createAccountToken, eventually, post, terminal, useConsole } from "./harness.ts";

const MIB = 1024 * 1024;
/** Small enough that the over-limit test is quick, large enough for the 50 MiB round trip. */
const FILE_LIMIT = 60 * MIB;

const c = useConsole({
  capabilities: ["terminalExec", "sessionFiles"],
  env: { CONSOLE_ENABLE_REGISTRATION: "true", CONSOLE_FILE_MAX_BYTES: String(FILE_LIMIT) },
});
let otherToken: string;

function auth(token = c.token): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

function filesUrl(sessionId: string, path: string, list = false): string {
  return `${c.url}/api/v1/sessions/${encodeURIComponent(sessionId)}/files${list ? "/list" : ""}?path=${encodeURIComponent(path)}`;
}

/** A session that outlives the suite's slowest step (file operations do not extend a lease). */
async function newSession(token = c.token): Promise<string> {
  const res = await post<{ session_id: string }>(c.url, token, "/api/v1/sessions", { lease_ttl_sec: 1800 });
  expect(res.status).toBe(201);
  return res.body.session_id;
}

async function put(sessionId: string, path: string, body: BodyInit, token = c.token): Promise<Response> {
  return fetch(filesUrl(sessionId, path), { method: "PUT", headers: auth(token), body, duplex: "half" } as RequestInit);
}

async function sh(sessionId: string, command: string): Promise<{ stdout: string; exit_code: number }> {
  const res = await terminal(c, { session_id: sessionId, command });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/**
 * A PUT through node:http that answers as soon as the console does, while the body may
 * still be going out (fetch would report the early answer as a failed request).
 */
function rawPut(
  sessionId: string,
  path: string,
  contentLength: number | null,
  sendBytes: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...auth() };
    if (contentLength !== null) headers["content-length"] = contentLength;
    const req = request(filesUrl(sessionId, path), { method: "PUT", headers });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    req.on("error", reject);
    const piece = Buffer.alloc(MIB);
    let sent = 0;
    const pump = () => {
      while (sent < sendBytes && !req.destroyed) {
        sent += piece.length;
        if (!req.write(piece)) {
          req.once("drain", pump);
          return;
        }
      }
      if (!req.destroyed && contentLength === null) req.end();
    };
    req.flushHeaders();
    pump();
  });
}

function sha(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Terminal containers of this suite's worker whose session label is `key` (any when absent). */
async function sessionContainers(): Promise<number> {
  return (await containersOf(c, "terminalExec")).length;
}

async function connect(token = c.token): Promise<Client> {
  const cl = new Client({ name: "onlyboxes-e2e-files", version: "1.0.0" });
  await cl.connect(new StreamableHTTPClientTransport(new URL(`${c.url}/mcp`), { requestInit: { headers: auth(token) } }));
  return cl;
}

beforeAll(async () => {
  otherToken = await createAccountToken(c, "files-other");
});

describe("sessions as a resource", () => {
  it("creates, shows, lists and ends a session; its container goes with it", async () => {
    const before = await sessionContainers();
    const created = await post<{ session_id: string; lease_expires_unix_ms: number; created_at: string }>(
      c.url,
      c.token,
      "/api/v1/sessions",
      { lease_ttl_sec: 300 },
    );
    expect(created.status).toBe(201);
    const id = created.body.session_id;
    expect(id).toMatch(/^sess_/);
    expect(created.body.lease_expires_unix_ms).toBeGreaterThan(Date.now() + 250_000);
    expect(Date.parse(created.body.created_at)).toBeLessThanOrEqual(Date.now());
    expect(await sessionContainers()).toBe(before + 1);

    // terminalExec works on it.
    expect((await sh(id, "echo hi")).stdout).toBe("hi\n");

    const shown = await fetch(`${c.url}/api/v1/sessions/${id}`, { headers: auth() });
    expect(shown.status).toBe(200);
    expect(await shown.json()).toMatchObject({ session_id: id, busy: false });

    const list = (await (await fetch(`${c.url}/api/v1/sessions`, { headers: auth() })).json()) as {
      items: { session_id: string }[];
    };
    expect(list.items.map((s) => s.session_id)).toContain(id);

    // Another account sees nothing, exactly as for a missing id.
    const foreign = await fetch(`${c.url}/api/v1/sessions/${id}`, { headers: auth(otherToken) });
    const missing = await fetch(`${c.url}/api/v1/sessions/sess_nope`, { headers: auth(otherToken) });
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toEqual(await missing.json());
    expect((await fetch(`${c.url}/api/v1/sessions/${id}`, { method: "DELETE", headers: auth(otherToken) })).status).toBe(404);
    const otherList = (await (await fetch(`${c.url}/api/v1/sessions`, { headers: auth(otherToken) })).json()) as {
      items: unknown[];
    };
    expect(otherList.items).toEqual([]);

    const del = await fetch(`${c.url}/api/v1/sessions/${id}`, { method: "DELETE", headers: auth() });
    expect(del.status).toBe(204);
    expect(await eventually(async () => (await sessionContainers()) === before, 10_000)).toBe(true);
    expect((await fetch(`${c.url}/api/v1/sessions/${id}`, { headers: auth() })).status).toBe(404);
    const after = await terminal(c, { session_id: id, command: "true" });
    expect(after.status).toBe(404);
    expect(after.body.code).toBe("session_not_found");
  });

  it("still creates sessions implicitly through terminalExec, and lists them", async () => {
    const r = await terminal(c, { command: "true" });
    expect(r.status).toBe(200);
    const list = (await (await fetch(`${c.url}/api/v1/sessions`, { headers: auth() })).json()) as {
      items: { session_id: string }[];
    };
    expect(list.items.map((s) => s.session_id)).toContain(r.body.session_id);
    expect((await fetch(`${c.url}/api/v1/sessions/${r.body.session_id}`, { method: "DELETE", headers: auth() })).status).toBe(
      204,
    );
  });
});

describe("files over REST", () => {
  let id: string;
  beforeAll(async () => {
    id = await newSession();
  });
  afterAll(async () => {
    await fetch(`${c.url}/api/v1/sessions/${id}`, { method: "DELETE", headers: auth() });
  });

  it("uploads a CSV, runs pandas on it, and downloads the result byte-exact", async () => {
    const csv = "city,temp\nOslo,3\nRome,18\nCairo,30\nOslo,5\n";
    const up = await put(id, "data/in.csv", csv);
    expect(up.status).toBe(200);
    expect((await up.json()) as FileWriteResult).toEqual({ path: "data/in.csv", size: csv.length });

    const run = await sh(
      id,
      `python3 -c "import pandas as pd; d = pd.read_csv('data/in.csv'); d.groupby('city').temp.mean().to_csv('data/out.csv'); print(len(d))"`,
    );
    expect(run.stdout.trim()).toBe("4");

    const down = await fetch(filesUrl(id, "/workspace/data/out.csv"), { headers: auth() });
    expect(down.status).toBe(200);
    expect(down.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(await down.text()).toBe("city,temp\nCairo,30.0\nOslo,4.0\nRome,18.0\n");
  });

  it.each([
    ["0 bytes", 0],
    ["1 byte", 1],
    ["binary, several pieces", 3 * MIB + 17],
  ])("round-trips %s exactly", async (_name, size) => {
    const data = new Uint8Array(randomBytes(size));
    const up = await put(id, `bin/${size}.dat`, data);
    expect(up.status).toBe(200);
    expect(await up.json()).toEqual({ path: `bin/${size}.dat`, size });
    expect((await sh(id, `wc -c < bin/${size}.dat`)).stdout.trim()).toBe(String(size));
    const down = await fetch(filesUrl(id, `bin/${size}.dat`), { headers: auth() });
    expect(down.status).toBe(200);
    const back = new Uint8Array(await down.arrayBuffer());
    expect(back.byteLength).toBe(size);
    expect(sha(back)).toBe(sha(data));
  });

  it("moves 50 MiB each way byte-exact, and prints the throughput", async () => {
    const data = new Uint8Array(randomBytes(50 * MIB));
    let t = performance.now();
    const up = await put(id, "big.bin", data);
    const upMs = performance.now() - t;
    expect(up.status, await up.clone().text()).toBe(200);
    expect(await up.json()).toEqual({ path: "big.bin", size: 50 * MIB });
    t = performance.now();
    const down = await fetch(filesUrl(id, "big.bin"), { headers: auth() });
    const back = new Uint8Array(await down.arrayBuffer());
    const downMs = performance.now() - t;
    expect(down.status).toBe(200);
    expect(sha(back)).toBe(sha(data));
    console.log(
      `files: 50 MiB upload ${(50 / (upMs / 1000)).toFixed(1)} MiB/s (${upMs.toFixed(0)} ms), download ${(50 / (downMs / 1000)).toFixed(1)} MiB/s (${downMs.toFixed(0)} ms)`,
    );
    expect((await fetch(filesUrl(id, "big.bin"), { method: "DELETE", headers: auth() })).status).toBe(204);
  }, 180_000);

  it("lists a directory with names, types, sizes and times", async () => {
    await put(id, "tree/a.txt", "aaa");
    await sh(id, "mkdir -p tree/sub && ln -s a.txt tree/link");
    const res = await fetch(filesUrl(id, "tree", true), { headers: auth() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as FileListResult;
    expect(body.path).toBe("tree");
    const byName = Object.fromEntries(body.entries.map((e) => [e.name, e]));
    expect(Object.keys(byName).sort()).toEqual(["a.txt", "link", "sub"]);
    expect(byName["a.txt"]).toMatchObject({ type: "file", size: 3 });
    expect(byName.sub?.type).toBe("dir");
    expect(byName.link?.type).toBe("symlink");
    expect(byName["a.txt"]?.mtime).toBeGreaterThan(Date.now() - 600_000);
    const root = (await (await fetch(`${c.url}/api/v1/sessions/${id}/files/list`, { headers: auth() })).json()) as FileListResult;
    expect(root.entries.map((e) => e.name)).toContain("tree");
  });

  it("deletes a file; a second delete and a read are file_not_found", async () => {
    await put(id, "gone.txt", "x");
    expect((await fetch(filesUrl(id, "gone.txt"), { method: "DELETE", headers: auth() })).status).toBe(204);
    const again = await fetch(filesUrl(id, "gone.txt"), { method: "DELETE", headers: auth() });
    expect(again.status).toBe(404);
    expect(((await again.json()) as { code: string }).code).toBe("file_not_found");
    const read = await fetch(filesUrl(id, "gone.txt"), { headers: auth() });
    expect(read.status).toBe(404);
    expect(((await read.json()) as { code: string }).code).toBe("file_not_found");
    expect((await fetch(filesUrl(id, "nowhere", true), { headers: auth() })).status).toBe(404);
  });

  it("resolves escaping and absolute paths inside the container, never on the host", async () => {
    // ../../etc/passwd from /workspace is the container's own /etc/passwd.
    const passwd = await fetch(filesUrl(id, "../../etc/passwd"), { headers: auth() });
    expect(passwd.status).toBe(200);
    const text = await passwd.text();
    expect(text).toBe((await sh(id, "cat /etc/passwd")).stdout);
    // The sandbox user cannot write where it may not, and the host is never touched.
    const hostish = `/tmp/onlyboxes-host-probe-${randomBytes(4).toString("hex")}`;
    const up = await put(id, hostish, "inside");
    expect(up.status).toBe(200);
    expect((await sh(id, `cat ${hostish}`)).stdout).toBe("inside");
    const { existsSync } = await import("node:fs");
    expect(existsSync(hostish)).toBe(false);
    const denied = await put(id, "/etc/passwd", "root::0:0::/:/bin/sh\n");
    expect(denied.status).toBe(400);
    expect(((await denied.json()) as { code: string }).code).toBe("invalid_argument");
    expect((await sh(id, "cat /etc/passwd")).stdout).toBe(text);
    // A symlink pointing out of /workspace still resolves inside the container.
    await sh(id, "ln -sf /etc/hostname hostlink");
    const viaLink = await fetch(filesUrl(id, "hostlink"), { headers: auth() });
    expect(await viaLink.text()).toBe((await sh(id, "cat /etc/hostname")).stdout);
  });

  it("refuses bad paths with 400 and a directory with path_is_directory", async () => {
    for (const path of ["", "a\0b", "x".repeat(5000)]) {
      const res = await fetch(filesUrl(id, path), { headers: auth() });
      expect(res.status, path.slice(0, 10)).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
    }
    const noPath = await fetch(`${c.url}/api/v1/sessions/${id}/files`, { headers: auth() });
    expect(noPath.status).toBe(400);
    const dir = await fetch(filesUrl(id, "tree"), { headers: auth() });
    expect(dir.status).toBe(400);
    expect(((await dir.json()) as { code: string }).code).toBe("path_is_directory");
  });

  it("answers another account's session as missing, for every file route", async () => {
    await put(id, "secret.txt", "mine");
    const routes: Array<[string, string, BodyInit | undefined]> = [
      ["GET", filesUrl(id, "secret.txt"), undefined],
      ["PUT", filesUrl(id, "secret.txt"), "theirs"],
      ["DELETE", filesUrl(id, "secret.txt"), undefined],
      ["GET", filesUrl(id, ".", true), undefined],
    ];
    for (const [method, url, body] of routes) {
      const res = await fetch(url, { method, headers: auth(otherToken), body });
      expect(res.status, `${method} ${url}`).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe("session_not_found");
    }
    expect(await (await fetch(filesUrl(id, "secret.txt"), { headers: auth() })).text()).toBe("mine");
  });

  it("refuses an upload over the limit with 413 and leaves nothing behind", async () => {
    // Announced too large: refused before a byte is read.
    const declared = await rawPut(id, "huge.bin", FILE_LIMIT + 1, 0);
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).code).toBe("file_too_large");
    // Without a length up front (chunked): the stream is cut where it passes the limit.
    const streamed = await rawPut(id, "huge.bin", null, FILE_LIMIT + 2 * MIB);
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).code).toBe("file_too_large");
    // The temporary file is removed right after the answer.
    expect(
      await eventually(async () => {
        const left = await terminal(c, { session_id: id, command: "ls -A /workspace" });
        return left.status === 200 && !left.body.stdout.includes("onlyboxes-upload");
      }, 10_000),
    ).toBe(true);
    expect((await sh(id, "ls -A /workspace")).stdout).not.toContain("huge.bin");
  }, 240_000);

  it("says session_busy while another command holds the session", async () => {
    const slow = terminal(c, { session_id: id, command: "sleep 5" });
    expect(
      await eventually(async () => {
        const s = (await (await fetch(`${c.url}/api/v1/sessions/${id}`, { headers: auth() })).json()) as { busy: boolean };
        return s.busy;
      }, 5_000),
    ).toBe(true);
    const res = await put(id, "busy.txt", "x");
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe("session_busy");
    expect((await slow).status).toBe(200);
  });
});

describe("a session deleted mid-upload", () => {
  it("fails the upload clearly, leaves no half-written file and no container", async () => {
    const before = await sessionContainers();
    const id = await newSession();
    expect(await sessionContainers()).toBe(before + 1);
    let pushed = 0;
    let deleted: Promise<Response> | null = null;
    const piece = new Uint8Array(256 * 1024);
    const stream = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        pushed += piece.byteLength;
        // Some of the file is in the container's temporary file; now end the session.
        if (pushed === 4 * MIB) {
          deleted = fetch(`${c.url}/api/v1/sessions/${id}`, { method: "DELETE", headers: auth() });
          await deleted;
        }
        if (pushed > 40 * MIB) ctl.close();
        else ctl.enqueue(piece);
      },
    });
    const res = await put(id, "half.bin", stream);
    expect(deleted).not.toBeNull();
    expect((await (deleted as unknown as Promise<Response>)).status).toBe(204);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe("session_not_found");
    expect(await eventually(async () => (await sessionContainers()) === before, 10_000)).toBe(true);
    expect((await fetch(`${c.url}/api/v1/sessions/${id}`, { headers: auth() })).status).toBe(404);
  });

  it("an upload the client abandons leaves no temporary file", async () => {
    const id = await newSession();
    // A client that sends 2 MiB of a chunked body and then drops the connection.
    await new Promise<void>((resolve) => {
      const req = request(filesUrl(id, "abandoned.bin"), { method: "PUT", headers: auth() });
      req.on("error", () => {});
      req.flushHeaders();
      req.write(Buffer.alloc(2 * MIB), () => {
        req.destroy();
        resolve();
      });
    });
    // The session is freed again and holds neither the file nor its temporary.
    expect(
      await eventually(async () => {
        const r = await terminal(c, { session_id: id, command: "ls -A /workspace" });
        return r.status === 200 && r.body.stdout === "";
      }, 40_000),
    ).toBe(true);
    expect((await fetch(`${c.url}/api/v1/sessions/${id}`, { method: "DELETE", headers: auth() })).status).toBe(204);
  }, 60_000);
});

describe("files over MCP", () => {
  let client: Client;
  beforeAll(async () => {
    client = await connect();
  });
  afterAll(async () => {
    await client.close();
  });

  async function call(name: string, args: Record<string, unknown>): Promise<CallToolResult> {
    return (await client.callTool({ name, arguments: args })) as CallToolResult;
  }

  it("lists writeFile, readFile and listFiles beside the four contract tools", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const n of ["echo", "pythonExec", "terminalExec", "readImage", "writeFile", "readFile", "listFiles"]) {
      expect(names).toContain(n);
    }
    const write = tools.find((t) => t.name === "writeFile");
    expect(write?.inputSchema.additionalProperties).toBe(false);
  });

  it("writes a CSV into a new session, analyses it, reads text, an image and binary back", async () => {
    const csv = "x,y\n1,2\n3,4\n";
    const w = await call("writeFile", { path: "in.csv", content: csv });
    expect(w.isError, JSON.stringify(w)).toBeFalsy();
    const written = w.structuredContent as { session_id: string; path: string; size: number };
    expect(written).toMatchObject({ path: "in.csv", size: csv.length });
    const sid = written.session_id;
    expect(sid).toMatch(/^sess_/);

    const run = await call("terminalExec", {
      session_id: sid,
      command: `python3 -c "import pandas as pd; d = pd.read_csv('in.csv'); d.sum().to_csv('sum.csv'); print(int(d.y.sum()))"`,
    });
    expect((run.structuredContent as { stdout: string }).stdout.trim()).toBe("6");

    const text = await call("readFile", { session_id: sid, path: "sum.csv" });
    expect(text.content).toEqual([{ type: "text", text: ",0\nx,4\ny,6\n" }]);

    const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
    expect((await call("writeFile", { session_id: sid, path: "dot.png", content_base64: png })).isError).toBeFalsy();
    const img = await call("readFile", { session_id: sid, path: "dot.png" });
    expect(img.content).toEqual([{ type: "image", data: png, mimeType: "image/png" }]);

    const bin = Buffer.from([0, 1, 2, 255, 254, 0]).toString("base64");
    await call("writeFile", { session_id: sid, path: "raw.bin", content_base64: bin });
    const blob = await call("readFile", { session_id: sid, path: "raw.bin" });
    expect(blob.content?.[0]).toMatchObject({ type: "resource", resource: { blob: bin } });

    const listed = await call("listFiles", { session_id: sid });
    const names = (listed.structuredContent as FileListResult).entries.map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(["in.csv", "sum.csv", "dot.png", "raw.bin"]));

    const missing = await call("readFile", { session_id: sid, path: "nope.txt" });
    expect(missing.isError).toBe(true);
    expect(JSON.stringify(missing.content)).toContain("file_not_found");

    expect((await fetch(`${c.url}/api/v1/sessions/${sid}`, { method: "DELETE", headers: auth() })).status).toBe(204);
  });

  it("answers bad arguments with -32602", async () => {
    for (const [name, args] of [
      ["writeFile", { path: "a", content: "x", content_base64: "eA==" }],
      ["writeFile", { path: "a", extra: 1 }],
      ["readFile", { path: "a" }],
      ["listFiles", { session_id: "s", path: "" }],
    ] as const) {
      const err = await client.callTool({ name, arguments: args }).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(McpError);
      expect((err as McpError).code).toBe(ErrorCode.InvalidParams);
    }
  });

  it("another account's session is session_not_found", async () => {
    const sid = await newSession();
    const other = await connect(otherToken);
    const res = (await other.callTool({ name: "readFile", arguments: { session_id: sid, path: "x" } })) as CallToolResult;
    expect(res.isError).toBe(true);
    expect(JSON.stringify(res.content)).toContain("session_not_found");
    await other.close();
    await fetch(`${c.url}/api/v1/sessions/${sid}`, { method: "DELETE", headers: auth() });
  });
});
