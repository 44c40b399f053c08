// Shared pieces of the benchmarks: start the self-hosted console, sign in, time requests.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The number after `--<name>` on the command line, or `def` when the flag is absent. */
export function numberArg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `npm start`'s scripts/start.sh as the leader of its own process group, serving on `port` from
 * `dataDir` with the admin `admin`/`password`; answers the child and what it printed so far.
 */
export function spawnLauncher({ port, dataDir, password, hashKey = randomBytes(32).toString("hex") }, extraEnv = {}) {
  // `npm start`'s own script, told which Node to run as npm would.
  const child = spawn("sh", [path.join(root, "scripts", "start.sh")], {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      npm_node_execpath: process.execPath,
      CONSOLE_HTTP_ADDR: `127.0.0.1:${port}`,
      CONSOLE_DB_PATH: dataDir,
      CONSOLE_HASH_KEY: hashKey,
      CONSOLE_DASHBOARD_USERNAME: "admin",
      CONSOLE_DASHBOARD_PASSWORD: password,
      ...extraEnv,
    },
  });
  let out = "";
  child.stdout.on("data", (b) => (out += b));
  child.stderr.on("data", (b) => (out += b));
  return { child, output: () => out };
}

/** SIGTERM to the child's whole process group, a wait until the group is gone, then SIGKILL to what lingers. */
export async function stopGroup(child) {
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {}
  await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
  for (let i = 0; i < 150; i++) {
    try {
      process.kill(-child.pid, 0);
    } catch {
      break;
    }
    await sleep(100);
  }
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {}
}

/** Starts `npm start` (scripts/start.sh) in its own process group; resolves once the local worker is connected. */
export async function startConsole(extraEnv = {}) {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), "onlyboxes-bench-"));
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const { child, output } = spawnLauncher({ port, dataDir, password }, extraEnv);
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 180_000;
  const stop = async () => {
    await stopGroup(child);
    rmSync(dataDir, { recursive: true, force: true });
  };
  while (!/connected to console/.test(output())) {
    if (child.exitCode !== null || Date.now() > until) {
      // What did start (workerd, the worker loop) must not outlive the failed start.
      await stop();
      throw new Error(`console did not start:\n${output()}`);
    }
    await sleep(100);
  }
  return { url, password, child, stop, output };
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One HTTP request on a keep-alive agent; resolves { status, body, ms }. A reused socket the server just closed is retried once. */
export async function request(url, opts = {}) {
  try {
    return await requestOnce(url, opts);
  } catch (err) {
    if (err?.code !== "ECONNRESET") throw err;
    return requestOnce(url, opts);
  }
}

function requestOnce(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const data = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = http.request(
      url,
      { method, agent, headers: { ...(data ? { "content-type": "application/json" } : {}), ...headers } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
            ms: Number(process.hrtime.bigint() - t0) / 1e6,
          }),
        );
      },
    );
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Signs in as the bench admin and creates a bearer token; returns { cookie, token }. */
export async function signInWithToken(c) {
  const login = await request(`${c.url}/api/v1/console/login`, {
    method: "POST",
    body: { username: "admin", password: c.password },
  });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${login.body}`);
  const cookie = /onlyboxes_console_session=[^;]+/.exec(String(login.headers["set-cookie"]))[0];
  const tok = await request(`${c.url}/api/v1/console/tokens`, {
    method: "POST",
    headers: { cookie },
    body: { name: `bench-${randomBytes(3).toString("hex")}` },
  });
  if (tok.status !== 201) throw new Error(`token: ${tok.status} ${tok.body}`);
  return { cookie, token: JSON.parse(tok.body).token };
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** Runs `fn` `n` times one after another; returns sorted latencies (ms). Non-2xx answers throw. */
export async function sequential(n, fn) {
  const lat = [];
  for (let i = 0; i < n; i++) {
    const r = await fn(i);
    if (r.status >= 300) throw new Error(`unexpected ${r.status}: ${r.body}`);
    lat.push(r.ms);
  }
  return lat.sort((a, b) => a - b);
}

/** Runs `total` calls of `fn` with `concurrency` in flight; returns { rps, errors, p50, p99 }. */
export async function concurrent(total, concurrency, fn) {
  let next = 0;
  let errors = 0;
  const lat = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        try {
          const r = await fn(i);
          if (r.status >= 300) errors++;
          else lat.push(r.ms);
        } catch {
          // A connection the server dropped counts as a failed request, not a crashed run.
          errors++;
        }
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { rps: total / secs, errors, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

/** Resident memory (MiB) of a process, from /proc. */
export function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Every process under a pid (children, then theirs), with its command line. */
export function childrenOf(pid) {
  const out = [];
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    for (const c of kids) {
      let cmd = "";
      try {
        cmd = readFileSync(`/proc/${c}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      } catch {}
      out.push({ pid: Number(c), cmd }, ...childrenOf(Number(c)));
    }
  } catch {}
  return out;
}

export const fmt = (n) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");

/**
 * A lean load generator: `clients` keep-alive connections, each sending one request (the
 * same pre-encoded bytes) as soon as its previous answer has arrived, for `seconds`.
 * Answers are read only as far as their status and length (Content-Length or chunked), so
 * the generator costs the machine a fraction of what node:http's client does and the
 * figure says more about the server. Resolves { ok, secs, statuses: Map<status, count> }.
 */
export async function blast({ url, method = "POST", headers = {}, body, clients = 16, seconds = 5 }) {
  const { connect } = await import("node:net");
  const u = new URL(url);
  const payload = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  const head = [
    `${method} ${u.pathname}${u.search} HTTP/1.1`,
    `host: ${u.host}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ...(payload ? ["content-type: application/json", `content-length: ${Buffer.byteLength(payload)}`] : []),
    "",
    "",
  ].join("\r\n");
  const requestBytes = Buffer.from(head + payload);
  const statuses = new Map();
  let ok = 0;
  const until = Date.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from(
      { length: clients },
      () =>
        new Promise((resolve, reject) => {
          const socket = connect(Number(u.port), u.hostname);
          socket.setNoDelay(true);
          let buf = Buffer.alloc(0);
          const send = () => {
            if (Date.now() >= until) {
              socket.end();
              resolve();
            } else socket.write(requestBytes);
          };
          socket.on("connect", send);
          socket.on("error", reject);
          socket.on("data", (chunk) => {
            buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
            for (;;) {
              const end = buf.indexOf("\r\n\r\n");
              if (end < 0) return;
              const headText = buf.subarray(0, end).toString("latin1");
              const status = Number(headText.slice(9, 12));
              const len = /\r\ncontent-length:\s*(\d+)/i.exec(headText);
              let total;
              if (len) total = end + 4 + Number(len[1]);
              else if (/\r\ntransfer-encoding:\s*chunked/i.test(headText)) {
                const last = buf.indexOf("\r\n0\r\n\r\n", end);
                if (last < 0) return;
                total = last + 7;
              } else return reject(new Error(`an answer without a length: ${headText}`));
              if (buf.length < total) return;
              buf = buf.subarray(total);
              if (status >= 200 && status < 300) ok++;
              else statuses.set(status, (statuses.get(status) ?? 0) + 1);
              send();
            }
          });
        }),
    ),
  );
  return { ok, secs: (performance.now() - t0) / 1000, statuses };
}

/** user+system CPU ms of a process, from /proc (USER_HZ = 100 on Linux). */
export function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) * 10;
}

/**
 * Sorted latencies of `n` calls of each of `fns` (after `warm` uncounted calls of each),
 * taken in turns of `batch` calls, so a change in the machine's load during the run falls
 * on every kind alike: figures that are compared with each other are measured side by side.
 */
export async function interleaved(fns, n, { warm = 5, batch = 50 } = {}) {
  for (const fn of fns) for (let i = 0; i < warm; i++) await fn();
  const lat = fns.map(() => []);
  while (lat.some((l) => l.length < n)) {
    for (const [k, fn] of fns.entries()) {
      for (let i = 0; i < batch && lat[k].length < n; i++) {
        const t = performance.now();
        await fn();
        lat[k].push(performance.now() - t);
      }
    }
  }
  return lat.map((l) => l.sort((a, b) => a - b));
}

/** A caller of the MCP echo tool on console `c` (one JSON-RPC request per call). */
export function mcpEchoCall(c, auth) {
  let id = 0;
  return () =>
    request(`${c.url}/mcp`, {
      method: "POST",
      headers: { ...auth, accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18" },
      body: { jsonrpc: "2.0", id: ++id, method: "tools/call", params: { name: "echo", arguments: { message: "bench" } } },
    });
}

/**
 * Opens a terminal session on console `c` (waiting for the worker's terminal capability:
 * it says hello before Docker is ready) and answers a caller of `pwd` in it.
 */
export async function terminalPwdCall(c, auth) {
  const terminal = (body) => request(`${c.url}/api/v1/commands/terminal`, { method: "POST", headers: auth, body });
  let first = await terminal({ command: "true", lease_ttl_sec: 600 });
  for (let i = 0; i < 600 && first.status !== 200; i++) {
    await sleep(100);
    first = await terminal({ command: "true", lease_ttl_sec: 600 });
  }
  const sessionId = JSON.parse(first.body).session_id;
  return () => terminal({ session_id: sessionId, command: "pwd" });
}

/** A bare Node HTTP route in its own process, answering the JSON body it was sent: the floor of any HTTP answer on this machine. */
export async function bareNode() {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      "-e",
      `require("node:http").createServer((q,s)=>{let b="";q.on("data",c=>b+=c);q.on("end",()=>{s.setHeader("content-type","application/json");s.end(b||"{}")})}).listen(${port},"127.0.0.1",()=>console.log("up"))`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise((r) => child.stdout.once("data", r));
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => child.kill() };
}
