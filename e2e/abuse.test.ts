/**
 * Hostile clients against the real self-hosted console (`npm start`, workerd
 * underneath): huge streamed bodies must be cut off at the limit without workerd's memory
 * growing by the body's size, failed authentications are throttled by the client address
 * workerd reports, and the dashboard's pages carry the security headers.
 */
import { readdir, readFile } from "node:fs/promises";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken, eventually, type StartedConsole, sleep, startConsole, stopAndListLeftovers } from "./harness.ts";

const MIB = 1024 * 1024;
const WINDOW_SEC = 3;

let c: StartedConsole;

beforeAll(async () => {
  c = await startConsole({
    // Echo only: these tests never need a sandbox, so the worker leaves Docker alone.
    env: {
      WORKER_DOCKER_ENABLED: "false",
      CONSOLE_AUTH_FAILURES_PER_ADDRESS: "8",
      CONSOLE_AUTH_FAILURE_WINDOW_SEC: String(WINDOW_SEC),
    },
    capabilities: ["echo"],
  });
}, 180_000);

afterAll(async () => {
  expect(await stopAndListLeftovers(c)).toEqual([]);
}, 90_000);

/** The pid of the workerd serving this console: its command line names the listening address. */
async function workerdPid(url: string): Promise<number> {
  const entry = `entry=${new URL(url).host}`;
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes("workerd") && cmdline.split("\0").some((arg) => arg.endsWith(entry))) return Number(name);
  }
  throw new Error(`no workerd process listening on ${entry}`);
}

/** Resident memory of a process in bytes (VmRSS from /proc/<pid>/status). */
async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

interface StreamedResult {
  status: number;
  body: string;
  /** Bytes the client had handed to the socket when the answer arrived. */
  writtenAtAnswer: number;
}

/** The connection closed before any byte of an answer arrived. */
class NoAnswer extends Error {}

/**
 * POSTs `totalBytes` with chunked transfer encoding (no Content-Length) over a raw socket,
 * as fast as the socket takes them, and stops writing once the answer starts arriving. A
 * raw socket keeps every byte the server sent even when it resets the connection right
 * after answering (node:http may then report only the reset, never the response).
 */
function streamedPost(url: string, path: string, totalBytes: number, headers: Record<string, string>): Promise<StreamedResult> {
  const { hostname, port } = new URL(url);
  const chunk = Buffer.alloc(256 * 1024, 0x20);
  const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
  return new Promise((resolve, reject) => {
    let written = 0;
    let writtenAtAnswer = -1;
    const received: Buffer[] = [];
    const socket = connect(Number(port), hostname);
    const finish = () => {
      const text = Buffer.concat(received).toString("utf8");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      if (status === undefined) {
        reject(new NoAnswer(`no HTTP answer after ${written} bytes: ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      const [head = "", rest = ""] = text.split("\r\n\r\n", 2);
      const body = /transfer-encoding: chunked/i.test(head)
        ? rest.replace(/^[0-9a-f]+\r\n|\r\n[0-9a-f]+\r\n(\r\n)?/gi, "")
        : rest;
      resolve({ status: Number(status), body: body.trim(), writtenAtAnswer });
    };
    socket.on("data", (d: Buffer) => {
      if (writtenAtAnswer < 0) writtenAtAnswer = written;
      received.push(d);
      // Enough of the answer is here once its body has begun; stop sending.
      if (Buffer.concat(received).includes("\r\n\r\n")) socket.end();
    });
    socket.on("error", () => {
      // A reset after the server answered is expected; `close` decides.
    });
    socket.on("close", finish);
    const head = Object.entries({ "content-type": "application/json", "transfer-encoding": "chunked", ...headers })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    socket.write(`POST ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\nconnection: close\r\n${head}\r\n`);
    const pump = () => {
      while (writtenAtAnswer < 0 && written < totalBytes && !socket.destroyed) {
        written += chunk.length;
        if (!socket.write(framed)) {
          socket.once("drain", pump);
          return;
        }
      }
      if (writtenAtAnswer < 0 && !socket.destroyed) socket.write("0\r\n\r\n");
    };
    pump();
  });
}

/** Sends the body while sampling workerd's RSS every 20 ms; answers the result and the peak growth. */
async function measured(path: string, headers: Record<string, string>) {
  const pid = await workerdPid(c.url);
  const before = await rssBytes(pid);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rssBytes(pid));
      await sleep(20);
    }
  })();
  try {
    let result: StreamedResult;
    try {
      result = await streamedPost(c.url, path, 80 * MIB, headers);
    } catch (err) {
      // A server that stops reading must close a connection that still carries unread
      // bytes, and the kernel then resets it; the reset can reach the client before it
      // has read the answer, which is then lost (2–3 calls in 40 with three busy loops on
      // this 2-core VM, none in 40 without). That is TCP, not the console: one more try,
      // measured all the same.
      if (!(err instanceof NoAnswer)) throw err;
      console.log(`[abuse] ${path}: ${err.message}; trying once more`);
      result = await streamedPost(c.url, path, 80 * MIB, headers);
    }
    // Give a late allocation a moment to show, then take the last samples.
    await sleep(200);
    sampling = false;
    await sampler;
    const after = await rssBytes(pid);
    return { result, before, peak, after };
  } finally {
    // A failed call must not leave the sampler reading a process the suite stops next.
    sampling = false;
    await sampler.catch(() => {});
  }
}

describe("80 MiB streamed bodies", () => {
  it.each([
    ["unauthenticated sign-in", "/api/v1/console/login", false, MIB],
    ["MCP with a valid token", "/mcp", true, 4 * MIB],
  ] as const)("%s: 413 at the limit, workerd RSS does not grow by the body", async (_label, path, auth, limit) => {
    const headers: Record<string, string> = auth
      ? { authorization: `Bearer ${c.token}`, accept: "application/json, text/event-stream" }
      : {};
    const { result, before, peak, after } = await measured(path, headers);
    console.log(
      `[abuse] ${path}: status ${result.status}, client had written ${(result.writtenAtAnswer / MIB).toFixed(1)} MiB at the answer; ` +
        `workerd VmRSS before ${(before / MIB).toFixed(1)} MiB, peak ${(peak / MIB).toFixed(1)} MiB, after ${(after / MIB).toFixed(1)} MiB`,
    );
    expect(result.status).toBe(413);
    expect(result.body).toContain(`exceeds ${limit} bytes`);
    // The body was not taken in whole: far less than 80 MiB was accepted before the answer...
    expect(result.writtenAtAnswer).toBeLessThan(40 * MIB);
    // ...and workerd held at most a few times the limit, not the 80 MiB offered.
    expect(peak - before).toBeLessThan(limit * 4 + 16 * MIB);
  });
});

describe("dashboard pages", () => {
  it("carry a CSP with frame-ancestors 'none' and Referrer-Policy", async () => {
    for (const path of ["/", "/tokens"]) {
      const res = await fetch(`${c.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/text\/html/);
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    }
  });
});

// Last: it locks out this machine's address for a few seconds.
describe("failed bearer authentications on the self-hosted runtime", () => {
  it("are counted by the address workerd reports, answered 429 past the limit, and forgiven after the window", async () => {
    const echo = (token: string) =>
      fetch(`${c.url}/api/v1/commands/echo`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ message: "hi" }),
      });
    // A token never presented before, so no isolate remembers it as valid.
    const fresh = await createToken(c.url, c.adminCookie, "abuse-fresh");
    for (let i = 0; i < 8; i++) expect((await echo(`obx_guess_${i}_${"0".repeat(40)}`)).status).toBe(401);
    const locked = await echo(`obx_guess_last_${"0".repeat(40)}`);
    expect(locked.status).toBe(429);
    const retryAfter = Number(locked.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_SEC);
    // During the lockout a right token is refused the same way.
    expect((await echo(fresh)).status).toBe(429);
    const started = Date.now();
    expect(await eventually(async () => (await echo(fresh)).status === 200, 15_000)).toBe(true);
    expect(Date.now() - started).toBeLessThanOrEqual((WINDOW_SEC + 3) * 1000);
  });
});
