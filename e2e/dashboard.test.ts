/**
 * The dashboard in a real browser against the real self-hosted console: Debian's Chromium
 * driven by playwright-core, the console started as `npm start` does (which also
 * starts its local Docker worker). Walks the pages a person would: sign in, watch the
 * local worker come online, create and delete a worker and a token, see tasks, sign out.
 * Screenshots of every page go to test-output/screenshots/.
 */
import { type ChildProcess, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createToken,
  freePort,
  launcherEnv,
  login,
  REPO_ROOT,
  START_SCRIPT,
  sleep,
  spawnGroup,
  stopGroup,
  waitForListening,
} from "./harness.ts";

const SCREENSHOTS = join(REPO_ROOT, "test-output", "screenshots");
const DOCS_IMAGE = join(REPO_ROOT, "docs", "images", "workers.png");
const ADMIN = { username: "admin", password: `pw-${randomBytes(8).toString("hex")}` };
/** Long enough for the local worker to start and for a few dashboard polls. */
const UI_TIMEOUT_MS = 60_000;

interface RunningConsole {
  url: string;
  child: ChildProcess;
  dataDir: string;
  output: () => string;
}

let consoleProc: RunningConsole | undefined;
let browser: Browser | undefined;
let context: BrowserContext | undefined;
let page: Page;
/** The launcher's worker, whose containers must be gone once the console has stopped. */
let localNodeId: string | undefined;

/** Starts the launcher in its own process group on a free port with a fresh data directory. */
async function startConsole(): Promise<RunningConsole> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), "onlyboxes-dashboard-e2e-"));
  const env = launcherEnv({ port, dataDir, ...ADMIN }, { CONSOLE_ENABLE_REGISTRATION: "true" });
  const proc = spawnGroup([START_SCRIPT], env);
  const running: RunningConsole = { url: "", child: proc.child, dataDir, output: proc.output };
  try {
    running.url = await waitForListening(proc);
    return running;
  } catch (err) {
    await stopConsole(running);
    throw new Error(`the console did not start (${String(err)})\n--- output ---\n${proc.output()}`);
  }
}

/** Stops the console's whole process group (launcher, workerd, local worker) and removes its data. */
async function stopConsole(c: RunningConsole): Promise<void> {
  await stopGroup(c.child);
  await rm(c.dataDir, { recursive: true, force: true });
}

/** Waits until the locator shows (playwright-core has no expect; locators wait on their own). */
async function visible(locator: Locator, timeout?: number): Promise<void> {
  await locator.first().waitFor({ state: "visible", ...(timeout === undefined ? {} : { timeout }) });
}

async function hidden(locator: Locator): Promise<void> {
  await locator.waitFor({ state: "hidden" });
}

/** Polls until `read` answers what `ok` accepts; throws with the last value otherwise. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await sleep(100);
    last = await read();
  }
  return last;
}

async function shot(name: string): Promise<string> {
  const file = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

function runningConsole(): RunningConsole {
  if (!consoleProc) throw new Error("console not started");
  return consoleProc;
}

/** Connects the official MCP SDK client the way a pasted client config says and answers the tool names. */
async function toolsFromPastedConfig(pasted: string): Promise<string[]> {
  const config = JSON.parse(pasted) as {
    mcpServers?: Record<string, PastedServer>;
    servers?: Record<string, PastedServer>;
  };
  const server = (config.mcpServers ?? config.servers)?.onlyboxes;
  if (!server) throw new Error(`no onlyboxes server in ${pasted}`);
  const client = new Client({ name: "pasted-config", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: server.headers } }));
  try {
    return (await client.listTools()).tools.map((t) => t.name);
  } finally {
    await client.close();
  }
}

interface PastedServer {
  url: string;
  headers: Record<string, string>;
}

/** Calls the REST API outside the browser with a bearer token (what a script would do). */
async function bearerPost(path: string, token: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${runningConsole().url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** IDs of the containers the given worker created (every one carries its node id as a label). */
function containersOf(nodeId: string, capability?: string): Promise<string[]> {
  const filters = ["--filter", `label=dev.onlyboxes.node-id=${nodeId}`];
  if (capability) filters.push("--filter", `label=dev.onlyboxes.capability=${capability}`);
  const r = spawnSync("docker", ["ps", "-aq", ...filters], { encoding: "utf8" });
  return Promise.resolve(r.stdout.split("\n").filter((l) => l.trim() !== ""));
}

/** Registers a fresh non-admin account over the API and answers a bearer token of it. */
async function tokenOfNewAccount(url: string, username: string): Promise<string> {
  const adminCookie = await login(url, ADMIN.username, ADMIN.password);
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const res = await fetch(`${url}/api/v1/console/register`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie: adminCookie },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 201) throw new Error(`register answered ${res.status}: ${await res.text()}`);
  return createToken(url, await login(url, username, password), "load");
}

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Serve what the sources say now, not whatever an earlier build left in dashboard/dist.
  const build = spawnSync("npm", ["run", "build", "-w", "dashboard"], { cwd: REPO_ROOT, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`dashboard build failed:\n${build.stdout}\n${build.stderr}`);
  consoleProc = await startConsole();
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: "light" });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: consoleProc.url });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
}, 240_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  if (consoleProc) await stopConsole(consoleProc);
  if (localNodeId !== undefined) {
    const nodeId = localNodeId;
    // A clean stop keeps idle terminal sessions for the next start to adopt; everything else goes.
    const notSessions = async () => {
      const sessions = new Set(await containersOf(nodeId, "terminalExec"));
      return (await containersOf(nodeId)).filter((id) => !sessions.has(id));
    };
    const left = await until(notSessions, (ids) => ids.length === 0, "the worker's containers to be removed", 30_000);
    expect(left).toEqual([]);
    const kept = await containersOf(nodeId, "terminalExec");
    if (kept.length > 0) spawnSync("docker", ["rm", "-f", ...kept]);
  }
}, 90_000);

describe("dashboard in Chromium", () => {
  it("signs in, manages workers and tokens, shows tasks, signs out", async () => {
    try {
      await walkThrough();
    } catch (err) {
      // Leave what the browser showed and what the console said, for whoever reads the failure.
      await shot("failure").catch(() => undefined);
      const tail = runningConsole().output().slice(-6000);
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- console output (tail) ---\n${tail}`);
    }
  }, 240_000);
});

async function walkThrough(): Promise<void> {
  const { url } = runningConsole();

  // Sign-in: a protected page sends us to /login; wrong credentials say so.
  await page.goto(`${url}/workers`);
  await page.waitForURL(/\/login\?next=%2Fworkers$/);
  await page.getByLabel("Username").fill(ADMIN.username);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  expect(
    await until(
      () => page.getByRole("alert").textContent(),
      (t) => t === "Wrong username or password.",
      "wrong-credentials message",
    ),
  ).toBe("Wrong username or password.");
  await shot("login");

  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${url}/workers`);
  await visible(page.getByRole("heading", { name: "Workers" }));
  expect(await page.getByRole("link", { name: /^console v\d/ }).getAttribute("href")).toMatch(/^https:\/\//);

  // The launcher's local worker comes online in the table without a reload.
  const localRow = page.getByRole("row").filter({ has: page.getByText("local", { exact: true }) });
  await visible(localRow.getByText("online", { exact: true }), UI_TIMEOUT_MS);
  expect(await localRow.getByRole("meter", { name: "echo in flight" }).getAttribute("aria-valuemax")).toMatch(/^[1-9]/);
  await until(
    () => page.locator(".stat", { hasText: "Online" }).locator(".stat-value").textContent(),
    (t) => t === "1",
    "one online worker in the stats",
  );

  // Load from another account's script shows up in the in-flight bars on the next refresh.
  const loadToken = await tokenOfNewAccount(url, "load-generator");
  for (let i = 0; i < 2; i++) {
    const started = await bearerPost("/api/v1/tasks", loadToken, {
      capability: "pythonExec",
      input: { code: "import time; time.sleep(20)" },
      mode: "async",
    });
    expect(started.status).toBe(202);
  }
  localNodeId = (await localRow.locator("th code").textContent()) ?? undefined;
  const pythonMeter = localRow.getByRole("meter", { name: "pythonExec in flight" });
  await until(
    () => pythonMeter.getAttribute("aria-valuenow"),
    (v) => v === "2",
    "two pythonExec runs in flight",
    UI_TIMEOUT_MS,
  );
  const workersShot = await shot("workers");
  // The README's picture is refreshed on request only, so ordinary runs leave the tree clean.
  if (process.env.UPDATE_DOC_IMAGES === "1") {
    mkdirSync(join(REPO_ROOT, "docs", "images"), { recursive: true });
    copyFileSync(workersShot, DOCS_IMAGE);
  }
  await page.emulateMedia({ colorScheme: "dark" });
  await shot("workers-dark");
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize({ width: 390, height: 844 });
  await shot("workers-mobile");
  await page.setViewportSize({ width: 1280, height: 860 });

  // The status filter lives in the URL.
  await page.getByLabel("Status").selectOption("offline");
  await page.waitForURL(/status=offline/);
  await visible(page.getByText("No offline workers"));
  await page.getByLabel("Status").selectOption("all");
  await visible(localRow);

  // Create a worker: its start command is shown once, with a working copy button.
  await page.getByRole("button", { name: "Add worker" }).click();
  const created = page.getByRole("dialog", { name: "Worker created" });
  const command = (await created.getByTestId("worker-command").textContent()) ?? "";
  expect(command).toMatch(/WORKER_ID=\S+/);
  expect(command).toMatch(/WORKER_SECRET=\S+/);
  const nodeId = /WORKER_ID=(\S+)/.exec(command)?.[1] ?? "";
  await created.getByRole("button", { name: "Copy command" }).click();
  await visible(created.getByText("Copied"));
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(command);
  await shot("worker-created");
  await page.keyboard.press("Escape");
  await hidden(created);
  const newRow = page.getByRole("row").filter({ hasText: nodeId });
  await visible(newRow.getByText("offline", { exact: true }));
  expect(await page.getByText(/WORKER_SECRET=/).count()).toBe(0);

  // Delete it, after confirming.
  await newRow.getByRole("button", { name: /^Delete worker/ }).click();
  const confirmWorker = page.getByRole("alertdialog", { name: "Delete worker?" });
  await confirmWorker.getByRole("button", { name: "Delete worker" }).click();
  await until(
    () => newRow.count(),
    (n) => n === 0,
    "the deleted worker to leave the table",
  );
  await visible(localRow);

  // Tokens: create one, see it once, prove it works, refuse a duplicate name inline.
  await page.getByRole("link", { name: "Tokens" }).click();
  await visible(page.getByText("No tokens yet"));
  await page.getByRole("button", { name: "Create token" }).click();
  const createDialog = page.getByRole("dialog", { name: "Create access token" });
  await createDialog.getByLabel("Name").fill("browser-e2e");
  await createDialog.getByRole("button", { name: "Create token" }).click();
  const tokenDialog = page.getByRole("dialog", { name: "Token created" });
  const plaintext = (await tokenDialog.getByTestId("token-plaintext").textContent()) ?? "";
  expect(plaintext).toMatch(/^obx_[0-9a-f]+$/);
  await tokenDialog.getByRole("button", { name: "Copy", exact: true }).click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(plaintext);
  // The ready-to-paste MCP configuration works as pasted: fed to the official SDK client, it lists the tools.
  for (const [id, tab] of [
    ["cursor", "Cursor"],
    ["vscode", "VS Code"],
  ] as const) {
    await tokenDialog.getByRole("tab", { name: tab }).click();
    const pasted = (await tokenDialog.locator(`[data-snippet="${id}"] code`).textContent()) ?? "";
    expect(await toolsFromPastedConfig(pasted)).toEqual(
      expect.arrayContaining(["echo", "pythonExec", "terminalExec", "readImage"]),
    );
  }
  await tokenDialog.getByRole("tab", { name: "Claude Code" }).click();
  const claudeLine = (await tokenDialog.locator('[data-snippet="claude-code"] code').textContent()) ?? "";
  expect(claudeLine).toBe(`claude mcp add --transport http onlyboxes ${url}/mcp --header 'Authorization: Bearer ${plaintext}'`);
  await shot("token-created");
  await tokenDialog.getByRole("button", { name: "Done" }).click();
  const tokenRow = page.getByRole("row").filter({ hasText: "browser-e2e" });
  await visible(tokenRow);
  expect(await page.getByText(plaintext).count()).toBe(0);
  expect(await tokenRow.locator("code").textContent()).toMatch(/^obx_.*…/);

  await page.getByRole("button", { name: "Create token" }).click();
  await createDialog.getByLabel("Name").fill("Browser-E2E");
  await createDialog.getByRole("button", { name: "Create token" }).click();
  expect(
    await until(
      () => createDialog.getByRole("alert").textContent(),
      (t) => t !== null,
      "the duplicate-name error",
    ),
  ).toBe("You already have a token with this name.");
  await shot("token-duplicate");
  await page.keyboard.press("Escape");
  await hidden(createDialog);
  await shot("tokens");

  // The token the dialog showed runs a task on the local worker; the task shows up.
  const echo = await bearerPost("/api/v1/tasks", plaintext, {
    capability: "echo",
    input: { message: "from the browser test" },
    mode: "sync",
  });
  expect(echo.status).toBe(200);
  // …and opens a terminal session in a container, which is listed with its lease countdown.
  const term = await bearerPost("/api/v1/commands/terminal", plaintext, { command: "echo hello", lease_ttl_sec: 300 });
  expect(term.status).toBe(200);
  const sessionId = (term.body as { session_id: string }).session_id;
  await page.getByRole("link", { name: "Tasks & sessions" }).click();
  const taskRow = page.getByRole("row").filter({ hasText: "echo" });
  await visible(taskRow.getByText("succeeded"));
  const sessionRow = page.getByRole("row").filter({ hasText: sessionId });
  await visible(sessionRow, UI_TIMEOUT_MS);
  await until(
    () => sessionRow.locator(".countdown").textContent(),
    (t) => t !== null && /^[45]:\d\d$/.test(t),
    "a lease countdown near five minutes",
  );
  await shot("activity");

  // A reload keeps the session.
  await page.reload();
  await visible(page.getByRole("heading", { name: "Tasks and sessions" }));

  // Delete the token: the API refuses it from then on.
  await page.getByRole("link", { name: "Tokens" }).click();
  await tokenRow.getByRole("button", { name: "Delete token browser-e2e" }).click();
  const confirmToken = page.getByRole("alertdialog", { name: "Delete token?" });
  await shot("token-delete-confirm");
  await confirmToken.getByRole("button", { name: "Delete token" }).click();
  await visible(page.getByText("No tokens yet"));
  expect((await bearerPost("/api/v1/tasks", plaintext, { capability: "echo", input: { message: "x" } })).status).toBe(401);

  // Accounts (registration is on): create a non-admin account.
  await page.getByRole("link", { name: "Accounts" }).click();
  await page.getByLabel("Username").fill("teammate");
  await page.getByLabel("Password").fill("teammate-password");
  await page.getByRole("button", { name: "Create account" }).click();
  await visible(page.getByText("teammate", { exact: true }));
  await shot("accounts");

  // Sign out: back to sign-in, and protected pages stay closed.
  await page.getByRole("button", { name: "Sign out" }).click();
  await visible(page.getByText("You have signed out."));
  await page.waitForURL(`${url}/login`);
  await shot("signed-out");
  await page.goto(`${url}/tokens`);
  await page.waitForURL(/\/login\?next=%2Ftokens$/);
  await visible(page.getByRole("button", { name: "Sign in" }));
}
