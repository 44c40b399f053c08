import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { download, upload } from "../src/copy.ts";
import { CliError, restClient } from "../src/rest.ts";

/*
 * cp's streaming against a local HTTP server standing in for the files API: the cases a
 * real console cannot be made to produce on demand (a body cut mid-way).
 */

let handle: (req: IncomingMessage, res: ServerResponse) => void = () => {};
let server: Server;
let base = "";
let dir = "";
const quiet = { stdout: () => {}, stderr: () => {} };

beforeAll(async () => {
  server = createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("download", () => {
  it("leaves no file behind, and an existing one untouched, when the body breaks off", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "onlyboxes-cp-"));
    await writeFile(path.join(dir, "out.bin"), "old");
    handle = (_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "100000" });
      res.write(Buffer.alloc(40_000, 1), () => res.destroy());
    };
    const rest = restClient(base, "t");
    const err = await download(rest, { kind: "remote", session: "s", path: "out.bin" }, dir, quiet).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as Error).message).toMatch(/^the download of s:out\.bin (broke off|was cut short)/);
    expect(await readdir(dir)).toEqual(["out.bin"]);
    expect(await readFile(path.join(dir, "out.bin"), "utf8")).toBe("old");
  });
  it("removes the partial file when stopped (Ctrl-C) mid-body", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "onlyboxes-cp-"));
    const stop = new AbortController();
    handle = (_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "100000" });
      // Half the body, then the server stalls: only the abort can end this download.
      res.write(Buffer.alloc(50_000, 1));
    };
    const said: string[] = [];
    const running = download(restClient(base, "t", stop.signal), { kind: "remote", session: "s", path: "big.bin" }, dir, {
      stdout: () => {},
      stderr: (t) => void said.push(t),
    });
    const partial = async () => (await readdir(dir)).some((f) => f.endsWith(".part"));
    for (let i = 0; i < 250 && !(await partial()); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await partial()).toBe(true);
    stop.abort();
    await expect(running).rejects.toThrow(CliError);
    expect(await readdir(dir)).toEqual([]);
    expect(said).toEqual([]);
  });
});

describe("upload", () => {
  it("declares the file's length and sends its bytes to the files route with the bearer", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "onlyboxes-cp-"));
    const file = path.join(dir, "data.csv");
    await writeFile(file, "a,b\n1,2\n");
    let seen: { url?: string; auth?: string; length?: string; body?: string } = {};
    handle = (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen = {
          url: `${req.method} ${req.url}`,
          auth: req.headers.authorization,
          length: req.headers["content-length"],
          body: Buffer.concat(chunks).toString(),
        };
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ path: "in/data.csv", size: 8 }));
      });
    };
    const said: string[] = [];
    await upload(
      restClient(base, "tok"),
      file,
      { kind: "remote", session: "s 1", path: "in/" },
      {
        stdout: () => {},
        stderr: (t) => void said.push(t),
      },
    );
    expect(seen).toEqual({
      url: "PUT /api/v1/sessions/s%201/files?path=in%2Fdata.csv",
      auth: "Bearer tok",
      length: "8",
      body: "a,b\n1,2\n",
    });
    expect(said).toEqual(["onlyboxes: s 1:in/data.csv (8 bytes)\n"]);
  });

  it("reads a refusal sent from the headers alone, before the body (no connection-reset error)", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "onlyboxes-cp-"));
    const file = path.join(dir, "big.bin");
    await writeFile(file, Buffer.alloc(16 * 1024 * 1024));
    let received = 0;
    server.once("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
      req.on("data", (c: Buffer) => {
        received += c.length;
      });
      res.writeHead(413, { "content-type": "application/json" });
      // Answer, then drop the connection as a server that will not read the body does.
      res.end(JSON.stringify({ error: "the file is larger than the limit of 1 bytes", code: "file_too_large" }), () =>
        req.socket.destroy(),
      );
    });
    await expect(upload(restClient(base, "t"), file, { kind: "remote", session: "s", path: "" }, quiet)).rejects.toThrow(
      "the file is larger than the limit of 1 bytes (file_too_large)",
    );
    expect(received).toBe(0);
  });

  it("reports a console's refusal as its message and code, and an unreachable console by its error", async () => {
    handle = (_req, res) => {
      res.writeHead(413, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "the file is larger than the limit of 4 bytes", code: "file_too_large" }));
    };
    dir = await mkdtemp(path.join(tmpdir(), "onlyboxes-cp-"));
    const file = path.join(dir, "x.txt");
    await writeFile(file, "too long");
    const to = { kind: "remote", session: "s", path: "" } as const;
    await expect(upload(restClient(base, "t"), file, to, quiet)).rejects.toThrow(
      "the file is larger than the limit of 4 bytes (file_too_large)",
    );
    // A port that was free a moment ago: nothing listens there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const gone = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    await expect(upload(restClient(gone, "t"), file, to, quiet)).rejects.toThrow(
      `cannot reach the console at ${gone}: ECONNREFUSED`,
    );
  });
});
