/**
 * The compose deployment as a user runs it: the console and worker images built offline
 * (scripts/build-service-images.sh), `compose.yaml` brought up on this engine under a
 * project name of its own and a free port, sign-in, echo and pythonExec through REST, a
 * console restart that keeps its data, then `down -v`, after which nothing of the project
 * is left: no container, volume or network, and no sandbox container of its worker.
 *
 * Needs `docker compose` or Debian's `docker-compose` (CI installs the latter); without
 * either the file is skipped and says why.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiResponse, createToken, eventually, freePort, login, post, python, REPO_ROOT, resultOf } from "./harness.ts";

const execFileAsync = promisify(execFile);

interface ComposeCli {
  cmd: string;
  args: string[];
}

/** `docker compose` (the CLI plugin) when present, else the standalone `docker-compose`. */
async function findCompose(): Promise<ComposeCli | null> {
  for (const cli of [
    { cmd: "docker", args: ["compose"] },
    { cmd: "docker-compose", args: [] },
  ]) {
    try {
      await execFileAsync(cli.cmd, [...cli.args, "version"]);
      return cli;
    } catch {
      // Not this one.
    }
  }
  return null;
}

// npm test installs Debian's docker-compose when neither CLI is there: missing is a failure, not a skip.
const found = await findCompose();
if (!found) throw new Error("neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)");
const cli = found;

const project = `obx-e2e-${randomBytes(4).toString("hex")}`;
const version = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;
const adminPassword = `pw-${randomBytes(8).toString("hex")}`;
const PROJECT_LABEL = `com.docker.compose.project=${project}`;
const NODE_LABEL = "dev.onlyboxes.node-id";

let url = "";
let composeEnv: Record<string, string> = {};
let upStartedAt = 0;
let down = false;

async function compose(...args: string[]): Promise<string> {
  const { stdout, stderr } = await execFileAsync(
    cli.cmd,
    [...cli.args, "-p", project, "-f", join(REPO_ROOT, "compose.yaml"), ...args],
    { cwd: REPO_ROOT, env: { ...process.env, ...composeEnv }, maxBuffer: 32 * 1024 * 1024 },
  );
  return `${stdout}${stderr}`;
}

/** The services' logs, for failure messages. */
async function logs(): Promise<string> {
  return compose("logs", "--no-color", "--tail", "80").catch((err: unknown) => `(no logs: ${String(err)})`);
}

async function docker(...args: string[]): Promise<string[]> {
  const { stdout } = await execFileAsync("docker", args);
  return stdout.split("\n").filter((l) => l.trim() !== "");
}

/** The id of the project's container of `service`. */
async function containerOf(service: string): Promise<string> {
  const ids = await docker(
    "ps",
    "-q",
    "--filter",
    `label=${PROJECT_LABEL}`,
    "--filter",
    `label=com.docker.compose.service=${service}`,
  );
  if (ids.length !== 1 || ids[0] === undefined) throw new Error(`expected one ${service} container, found ${ids.length}`);
  return ids[0];
}

/**
 * Answers whether the console's port gets an HTTP answer. Until the console listens, Docker's
 * port proxy accepts a connection and closes it without a reply, and Node 20's fetch then
 * never settles; node:http reports that as an error.
 */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(`${url}${path}`, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** Signs the admin in as soon as the console answers (503 while it migrates). */
async function waitForLogin(timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  if (!(await eventually(() => answers("/healthz"), timeoutMs))) {
    throw new Error(`the console never answered on ${url}\n${await logs()}`);
  }
  while (Date.now() < deadline) {
    try {
      return await login(url, "admin", adminPassword);
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the console never signed the admin in: ${String(last)}\n${await logs()}`);
}

/** Waits for an online worker with pythonExec and answers its node id. */
async function waitForWorker(cookie: string, timeoutMs: number): Promise<string> {
  let nodeId = "";
  let last = "";
  const online = await eventually(async () => {
    const res = await fetch(`${url}/api/v1/workers?status=online&page_size=100`, { headers: { cookie } });
    last = await res.text();
    if (res.status !== 200) return false;
    const body = JSON.parse(last) as { items?: { node_id: string; capabilities?: { name: string }[] }[] };
    const worker = (body.items ?? []).find((w) => (w.capabilities ?? []).some((cap) => cap.name === "pythonExec"));
    nodeId = worker?.node_id ?? "";
    return nodeId !== "";
  }, timeoutMs);
  if (!online) throw new Error(`no worker with pythonExec came online; last answer: ${last}\n${await logs()}`);
  return nodeId;
}

describe(`docker compose (${[cli.cmd, ...cli.args].join(" ")})`, () => {
  let cookie = "";
  let token = "";
  let nodeId = "";

  beforeAll(async () => {
    // Sandbox images on this engine (the worker starts them here), then the service images;
    // both are no-ops when current.
    await execFileAsync("bash", ["scripts/build-images.sh"], { cwd: REPO_ROOT, maxBuffer: 32 * 1024 * 1024 });
    const built = performance.now();
    const build = await execFileAsync("bash", ["scripts/build-service-images.sh"], {
      cwd: REPO_ROOT,
      maxBuffer: 32 * 1024 * 1024,
    });
    process.stderr.write(`${build.stderr}service images ready in ${Math.round(performance.now() - built)} ms\n`);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    composeEnv = {
      ONLYBOXES_VERSION: version,
      ONLYBOXES_PORT: String(port),
      CONSOLE_DASHBOARD_USERNAME: "admin",
      CONSOLE_DASHBOARD_PASSWORD: adminPassword,
      // The compose file's defaults, not whatever the calling shell has.
      CONSOLE_HASH_KEY: "",
      ONLYBOXES_BIND: "127.0.0.1",
    };
    upStartedAt = performance.now();
    await compose("up", "-d");
    process.stderr.write(`compose up -d (${project}): ${Math.round(performance.now() - upStartedAt)} ms\n`);
    cookie = await waitForLogin(240_000);
    process.stderr.write(`admin signed in: ${Math.round(performance.now() - upStartedAt)} ms after up\n`);
    nodeId = await waitForWorker(cookie, 180_000);
    token = await createToken(url, cookie, "compose-e2e");
  }, 900_000);

  afterAll(async () => {
    // When a test failed before its own `down -v`, still leave nothing behind.
    if (cli && !down && composeEnv.ONLYBOXES_PORT) await compose("down", "-v", "--timeout", "45").catch(() => "");
  }, 120_000);

  it("serves echo and pythonExec through REST", async () => {
    const echoed = await post(url, token, "/api/v1/commands/echo", { message: "through compose" });
    expect(echoed.status).toBe(200);
    expect(echoed.body).toEqual({ message: "through compose" });
    const ran = await python({ url, token }, "import numpy\nprint(int(numpy.arange(7).sum()) * 2)");
    expect(ran.status, JSON.stringify(ran.body)).toBe(200);
    expect(resultOf(ran.body)).toMatchObject({ output: "42\n", exit_code: 0 });
    process.stderr.write(`compose up → first pythonExec: ${Math.round(performance.now() - upStartedAt)} ms\n`);
  });

  it("gives the Docker socket to the worker only, whose process is not root", async () => {
    const mounts = async (service: string) =>
      JSON.parse((await docker("inspect", "-f", "{{json .Mounts}}", await containerOf(service))).join("")) as {
        Source: string;
        Destination: string;
      }[];
    expect((await mounts("console")).map((m) => m.Destination)).not.toContain("/var/run/docker.sock");
    expect((await mounts("worker")).map((m) => m.Destination)).toContain("/var/run/docker.sock");
    // `docker top`'s first column is the user of each process.
    const top = await docker("top", await containerOf("worker"));
    const workerProc = top.find((l) => l.includes("worker-entry.mjs"));
    expect(workerProc, top.join("\n")).toBeDefined();
    expect(workerProc?.split(/\s+/)[0]).toBe("10001");
    expect(await docker("ps", "-q", "--filter", `label=${NODE_LABEL}=${nodeId}`)).not.toEqual([]);
  });

  it("keeps accounts, tokens and the worker's credential across a console restart", async () => {
    await compose("restart", "console");
    cookie = await waitForLogin(240_000);
    // The token minted before the restart (its hash key lives in the data volume) works as
    // soon as the worker, with the same credential, has reconnected.
    let echoed: ApiResponse | undefined;
    await eventually(async () => {
      echoed = await post(url, token, "/api/v1/commands/echo", { message: "after restart" });
      return echoed.status === 200;
    }, 180_000);
    expect(echoed?.status, JSON.stringify(echoed?.body)).toBe(200);
    expect(echoed?.body).toEqual({ message: "after restart" });
    expect(await waitForWorker(cookie, 10_000)).toBe(nodeId);
  }, 480_000);

  it("leaves no container, volume, network or sandbox behind after `down -v`", async () => {
    // What the filters below find while the project runs, so their empty answers later mean something.
    expect(await docker("ps", "-aq", "--filter", `label=${PROJECT_LABEL}`)).toHaveLength(2);
    expect(await docker("volume", "ls", "-q", "--filter", `label=${PROJECT_LABEL}`)).toHaveLength(2);
    expect(await docker("network", "ls", "-q", "--filter", `label=${PROJECT_LABEL}`)).toHaveLength(1);
    const started = performance.now();
    await compose("down", "-v", "--timeout", "45");
    down = true;
    process.stderr.write(`compose down -v: ${Math.round(performance.now() - started)} ms\n`);
    expect(await docker("ps", "-aq", "--filter", `label=${PROJECT_LABEL}`)).toEqual([]);
    expect(await docker("ps", "-aq", "--filter", `label=${NODE_LABEL}=${nodeId}`)).toEqual([]);
    expect(await docker("volume", "ls", "-q", "--filter", `label=${PROJECT_LABEL}`)).toEqual([]);
    expect(await docker("network", "ls", "-q", "--filter", `label=${PROJECT_LABEL}`)).toEqual([]);
  }, 120_000);
});
