/**
 * Shared helpers of the end-to-end suites: start the real self-hosted console (which
 * starts its local Docker worker), sign in, mint bearer tokens, call the REST API, and
 * look at Docker and the host's processes the way an operator would.
 *
 * Each suite starts its own console on a free port with a fresh data directory; the
 * suites must run one file at a time (they share the Docker Engine and the CPU).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { ErrorBody, ErrorCode, PythonExecResult, TerminalExecResult } from "@onlyboxes/proto";
import { afterAll, beforeAll, expect } from "vitest";

const execFileAsync = promisify(execFile);

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** What `npm start` runs. */
export const START_SCRIPT = "scripts/start.sh";
/** The label every container a worker creates carries. */
export const MANAGED_LABEL = "dev.onlyboxes.managed=true";
/** Labels naming the node and the capability a managed container belongs to. */
const NODE_LABEL = "dev.onlyboxes.node-id";
const CAPABILITY_LABEL = "dev.onlyboxes.capability";

const READY_TIMEOUT_MS = 120_000;
const WORKER_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
  /** Wall-clock time the request took. */
  elapsedMs: number;
}

export interface StartedConsole {
  url: string;
  adminUsername: string;
  adminPassword: string;
  /** The admin's dashboard cookie (`name=value`). */
  adminCookie: string;
  /** A bearer token of the admin account. */
  token: string;
  /** Everything the console and its worker printed so far (for failure messages). */
  output(): string;
  /** Node ids of the workers this console has seen online (their containers carry them). */
  nodeIds: Set<string>;
  /**
   * Stops the console process and starts it again on the same port and data directory.
   * Only meaningful with `separateWorker`: the local worker would die with the console.
   * Waits until the worker is back online.
   */
  restartConsole(): Promise<void>;
  /**
   * Stops everything this console started (its local worker too, cleanly, by SIGTERM to
   * the group) and starts it again on the same port and data directory, as a user
   * restarting `npm start` does. Waits until the worker is back online.
   */
  restartAll(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra environment for the console (and the worker it starts). */
  env?: Record<string, string>;
  /** Capabilities a worker must have declared before the console counts as ready. */
  capabilities?: string[];
  /**
   * Run the worker as its own process (registered through the admin API) instead of the
   * console's local worker, so the console can restart while the worker keeps running.
   */
  separateWorker?: boolean;
  /** With `separateWorker`: the worker's script and working directory (default: this checkout's bin). */
  workerScript?: { path: string; cwd: string };
}

/** A process group this suite started, with what it printed. */
export interface Proc {
  child: ChildProcess;
  output(): string;
}

/** The launcher's environment: serve on `port` from `dataDir`, with the given first admin, plus `extra`. */
export function launcherEnv(
  o: { port: number; dataDir: string; username: string; password: string; hashKey?: string },
  extra: Record<string, string> = {},
): Record<string, string | undefined> {
  return {
    ...process.env,
    CONSOLE_HTTP_ADDR: `127.0.0.1:${o.port}`,
    CONSOLE_DB_PATH: o.dataDir,
    CONSOLE_HASH_KEY: o.hashKey ?? randomBytes(32).toString("hex"),
    CONSOLE_DASHBOARD_USERNAME: o.username,
    CONSOLE_DASHBOARD_PASSWORD: o.password,
    ...extra,
  };
}

/**
 * Starts `node <args>` (`sh <args>` for a shell script, told which Node to run as npm
 * would) as the leader of its own process group, so `stopGroup` reaches all it starts.
 */
export function spawnGroup(
  args: string[],
  env: Record<string, string | undefined>,
  sink: (text: string) => void = () => {},
  cwd = REPO_ROOT,
): Proc {
  const shell = args[0]?.endsWith(".sh") === true;
  const child = spawn(shell ? "sh" : process.execPath, args, {
    cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: shell ? { ...env, npm_node_execpath: process.execPath } : env,
  });
  let log = "";
  const append = (b: Buffer) => {
    const text = b.toString("utf8");
    log += text;
    if (log.length > 200_000) log = log.slice(-100_000);
    sink(text);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  return { child, output: () => log };
}

/** Every descendant of `pid`, with its command line. */
export function descendants(pid: number): { pid: number; cmd: string }[] {
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return kids.flatMap((k) => {
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${k}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      // exited meanwhile
    }
    return [{ pid: k, cmd }, ...descendants(k)];
  });
}

/** Finds a free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === "object") resolve(addr.port);
        else reject(new Error("no port"));
      });
    });
  });
}

/**
 * Starts `npm start` (scripts/start.sh) in its own process group with a fresh data directory,
 * waits for `console listening on …`, signs the admin in, waits for a worker with the
 * wanted capabilities, and mints a bearer token.
 */
export async function startConsole(opts: StartOptions = {}): Promise<StartedConsole> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), "onlyboxes-e2e-"));
  const adminUsername = "admin";
  const adminPassword = `pw-${randomBytes(8).toString("hex")}`;
  const capabilities = opts.capabilities ?? ["pythonExec", "terminalExec", "terminalResource"];
  const consoleEnv = launcherEnv(
    { port, dataDir, username: adminUsername, password: adminPassword },
    { ...(opts.separateWorker ? { CONSOLE_LOCAL_WORKER: "false" } : {}), ...opts.env },
  );
  let log = "";
  const sink = (text: string) => {
    log += text;
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  let consoleProc = spawnGroup([START_SCRIPT], consoleEnv, sink);
  let workerProc: Proc | undefined;
  let spawnWorker: (() => Proc) | undefined;
  const nodeIds = new Set<string>();

  const stop = async () => {
    if (workerProc) await stopGroup(workerProc.child);
    await stopGroup(consoleProc.child);
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    const url = await waitForListening(consoleProc);
    let adminCookie = await login(url, adminUsername, adminPassword);
    if (opts.separateWorker) {
      const workerEnv = await registerWorker(url, adminCookie);
      const script = opts.workerScript ?? { path: "worker-docker/bin/onlyboxes-worker.mjs", cwd: REPO_ROOT };
      spawnWorker = () => spawnGroup([script.path], { ...process.env, ...opts.env, ...workerEnv }, sink, script.cwd);
      workerProc = spawnWorker();
    }
    await waitForWorker(url, adminCookie, capabilities, nodeIds);
    const token = await createToken(url, adminCookie, `e2e-${randomBytes(4).toString("hex")}`);
    const started: StartedConsole = {
      url,
      adminUsername,
      adminPassword,
      adminCookie,
      token,
      output: () => log,
      nodeIds,
      async restartConsole() {
        await stopGroup(consoleProc.child);
        consoleProc = spawnGroup([START_SCRIPT], consoleEnv, sink);
        await waitForListening(consoleProc);
        adminCookie = await login(url, adminUsername, adminPassword);
        started.adminCookie = adminCookie;
        await waitForWorker(url, adminCookie, capabilities, nodeIds);
      },
      async restartAll() {
        if (workerProc) await stopGroup(workerProc.child);
        await stopGroup(consoleProc.child);
        consoleProc = spawnGroup([START_SCRIPT], consoleEnv, sink);
        await waitForListening(consoleProc);
        adminCookie = await login(url, adminUsername, adminPassword);
        started.adminCookie = adminCookie;
        if (spawnWorker) workerProc = spawnWorker();
        await waitForWorker(url, adminCookie, capabilities, nodeIds);
      },
      stop,
    };
    return started;
  } catch (err) {
    await stop();
    throw new Error(`console did not start: ${err instanceof Error ? err.message : String(err)}\n--- output ---\n${log}`);
  }
}

/**
 * One console for the calling suite (file or describe block): started before its tests,
 * stopped after them with a check that its workers left no container. The answer forwards
 * to the started console, so it is usable inside hooks and tests only. Options that need
 * something found at start (a free port) come from a function called in beforeAll.
 */
export function useConsole(opts: StartOptions | (() => Promise<StartOptions>) = {}, startTimeoutMs = 180_000): StartedConsole {
  let started: StartedConsole | undefined;
  beforeAll(async () => {
    started = await startConsole(typeof opts === "function" ? await opts() : opts);
  }, startTimeoutMs);
  afterAll(async () => {
    expect(await stopAndListLeftovers(started)).toEqual([]);
  }, 90_000);
  return new Proxy({} as StartedConsole, {
    get(_, key) {
      if (!started) throw new Error("the console starts in beforeAll: use it inside a hook or a test");
      return Reflect.get(started, key);
    },
  });
}

/** Registers a worker through the admin API and answers the WORKER_* environment of its startup command. */
async function registerWorker(url: string, cookie: string): Promise<Record<string, string>> {
  const res = await fetch(`${url}/api/v1/workers`, { method: "POST", headers: { cookie } });
  const body = (await res.json()) as { command?: string };
  if (res.status !== 201 || typeof body.command !== "string") {
    throw new Error(`worker registration answered ${res.status}: ${JSON.stringify(body)}`);
  }
  const env: Record<string, string> = {};
  for (const m of body.command.matchAll(/(WORKER_[A-Z_]+)=(\S+)/g)) {
    if (m[1] !== undefined && m[2] !== undefined) env[m[1]] = m[2];
  }
  return env;
}

/** Waits for the launcher's `console listening on <url>` line and answers the url. */
export async function waitForListening(proc: Proc): Promise<string> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const m = /console listening on (http:\/\/\S+)/.exec(proc.output());
    if (m?.[1] !== undefined) return m[1].replace(/\/$/, "");
    if (proc.child.exitCode !== null) throw new Error(`the launcher exited with ${proc.child.exitCode}`);
    await sleep(100);
  }
  throw new Error("timed out waiting for 'console listening on'");
}

/** Whether any process of the process group led by `pgid` is left. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `signal` (SIGTERM unless told) to the whole group (console, workerd, worker), then
 * SIGKILL if it lingers; answers once no process of the group is left.
 */
export async function stopGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      process.kill(-pid, signal);
    } catch {
      return;
    }
    const timer = sleep(STOP_TIMEOUT_MS).then(() => "timeout" as const);
    if ((await Promise.race([exited.then(() => "exited" as const), timer])) === "timeout") {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // already gone
      }
      await exited;
    }
  }
  // The group may outlive its leader for a moment (workerd exits slowly).
  for (let i = 0; i < 150; i++) {
    if (!groupAlive(pid)) return;
    await sleep(100);
  }
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Signs in and answers the dashboard cookie as `name=value`. */
export async function login(url: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/console/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  const setCookie = res.headers.get("set-cookie") ?? "";
  const m = /(onlyboxes_console_session=[^;]+)/.exec(setCookie);
  if (m?.[1] === undefined) throw new Error(`login set no session cookie: ${setCookie}`);
  return m[1];
}

/** Creates a bearer token for the cookie's account and answers its plain value. */
export async function createToken(url: string, cookie: string, name: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/console/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie },
    body: JSON.stringify({ name }),
  });
  const body = (await res.json()) as { token?: string };
  if (res.status !== 201 || typeof body.token !== "string") {
    throw new Error(`token creation answered ${res.status}: ${JSON.stringify(body)}`);
  }
  return body.token;
}

/** Registers another account (needs CONSOLE_ENABLE_REGISTRATION=true) and answers a bearer token of it. */
export async function createAccountToken(c: StartedConsole, username: string): Promise<string> {
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const res = await fetch(`${c.url}/api/v1/console/register`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie: c.adminCookie },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 201) throw new Error(`register answered ${res.status}: ${await res.text()}`);
  const cookie = await login(c.url, username, password);
  return createToken(c.url, cookie, "e2e");
}

async function waitForWorker(url: string, cookie: string, capabilities: string[], nodeIds: Set<string>): Promise<void> {
  const deadline = Date.now() + WORKER_TIMEOUT_MS;
  let last = "";
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/api/v1/workers?status=online&page_size=100`, { headers: { cookie } });
    last = await res.text();
    if (res.status === 200) {
      const body = JSON.parse(last) as { items?: { node_id: string; capabilities?: { name: string }[] }[] };
      for (const w of body.items ?? []) nodeIds.add(w.node_id);
      const ready = (body.items ?? []).some((w) => {
        const names = new Set((w.capabilities ?? []).map((cap) => cap.name));
        return capabilities.every((name) => names.has(name));
      });
      if (ready) return;
    }
    await sleep(250);
  }
  throw new Error(`no online worker with ${capabilities.join(", ")}; last answer: ${last}`);
}

/** POSTs JSON with a bearer token and answers status, parsed body and timing. */
export async function post<T = Record<string, unknown>>(
  url: string,
  token: string,
  path: string,
  body: unknown,
): Promise<ApiResponse<T>> {
  const started = performance.now();
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const elapsedMs = performance.now() - started;
  let parsed: T;
  try {
    parsed = JSON.parse(text) as T;
  } catch {
    throw new Error(`${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 500)}`);
  }
  return { status: res.status, body: parsed, headers: res.headers, elapsedMs };
}

/** A terminal answer: the contract's result object, or an error body. */
export type TerminalBody = TerminalExecResult & Partial<ErrorBody>;

/** `POST /api/v1/commands/terminal`. */
export function terminal(c: { url: string; token: string }, body: Record<string, unknown>, token = c.token) {
  return post<TerminalBody>(c.url, token, "/api/v1/commands/terminal", body);
}

export interface TaskBody {
  task_id: string;
  status: string;
  result?: Record<string, unknown>;
  error?: { code: ErrorCode; message: string } | string;
  code?: ErrorCode;
}

/** `POST /api/v1/tasks` in sync mode. */
export function task(
  c: { url: string; token: string },
  capability: string,
  input: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  return post<TaskBody>(c.url, c.token, "/api/v1/tasks", { capability, input, mode: "sync", ...extra });
}

/** The pythonExec result of the contract. */
export type PythonResult = PythonExecResult;

/** Runs Python through the tasks API and answers the HTTP response. */
export function python(c: { url: string; token: string }, code: string, timeoutMs?: number) {
  return task(c, "pythonExec", { code }, timeoutMs !== undefined ? { timeout_ms: timeoutMs } : {});
}

/** Runs `print(1)` and throws unless it succeeds: the check after every hostile program. */
export async function expectPythonHealthy(c: { url: string; token: string }): Promise<void> {
  const res = await python(c, "print(1)");
  const result = res.body.result as PythonResult | undefined;
  if (res.status !== 200 || result?.output !== "1\n" || result.exit_code !== 0) {
    throw new Error(`print(1) failed after a hostile program: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

export interface ManagedContainer {
  id: string;
  image: string;
  /** The worker node that created it ("" when unlabelled). */
  node: string;
  /** `pythonExec` or `terminalExec` ("" when unlabelled). */
  capability: string;
}

/** The containers workers manage right now, running or not (any worker on this Docker Engine). */
export async function managedContainers(): Promise<ManagedContainer[]> {
  const { stdout } = await execFileAsync("docker", [
    "ps",
    "-a",
    "--filter",
    `label=${MANAGED_LABEL}`,
    "--format",
    `{{.ID}}\t{{.Image}}\t{{.Label "${NODE_LABEL}"}}\t{{.Label "${CAPABILITY_LABEL}"}}`,
  ]);
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [id = "", image = "", node = "", capability = ""] = l.split("\t");
      return { id, image, node, capability };
    });
}

/**
 * Managed containers that belong to this console's workers (or carry no node label).
 * Other engineers' or suites' workers may share the Docker Engine; their containers are
 * not this suite's leftovers. Alone on the engine this equals `managedContainers()`.
 */
export async function containersOf(c: { nodeIds: Set<string> }, capability?: string): Promise<ManagedContainer[]> {
  return (await managedContainers()).filter(
    (x) => (x.node === "" || c.nodeIds.has(x.node)) && (capability === undefined || x.capability === capability),
  );
}

/**
 * Stops a suite's console (which stops its worker, and the worker removes every container
 * it manages but for idle terminal sessions, kept for its next start until their lease
 * ends) and answers the other containers of its nodes still there after a grace period.
 * The kept session containers are then removed: the suite is done with them.
 */
export async function stopAndListLeftovers(c: StartedConsole | undefined): Promise<ManagedContainer[]> {
  if (!c) return [];
  await c.stop();
  const others = async () => (await containersOf(c)).filter((x) => x.capability !== "terminalExec");
  await eventually(async () => (await others()).length === 0, 30_000);
  const sessions = await containersOf(c, "terminalExec");
  if (sessions.length > 0) await execFileAsync("docker", ["rm", "-f", ...sessions.map((x) => x.id)]).catch(() => {});
  return others();
}

/** The pythonExec result inside a task body. */
export function resultOf(body: { result?: Record<string, unknown> }): PythonResult {
  return body.result as unknown as PythonResult;
}

/**
 * Host processes whose command line contains `marker`. Containers share the host's
 * kernel, so a process left behind in any container shows up here.
 */
export async function hostProcessesWith(marker: string): Promise<string[]> {
  const { stdout } = await execFileAsync("ps", ["-eo", "pid=,args="]);
  return stdout
    .split("\n")
    .filter((l) => l.includes(marker) && !l.includes("ps -eo"))
    .map((l) => l.trim());
}

/** Polls `check` until it answers true or `timeoutMs` passes; answers the last value. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
}

/** A unique marker to find a test's processes and files by. */
export function marker(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString("hex")}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
