/**
 * `npm start`'s supervisor (scripts/start.sh) as an operator sees it: once the console
 * serves, no Node process stays for the console (only the local worker runs Node); a local
 * worker that dies is started again and serves; when workerd dies, the launcher stops the
 * worker, exits with 1 and leaves no process and no private file behind; and Ctrl+C (SIGINT
 * to the whole process group, as a terminal sends it) stops everything cleanly with 0.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createToken,
  descendants,
  eventually,
  freePort,
  groupAlive,
  launcherEnv,
  login,
  type Proc,
  START_SCRIPT,
  spawnGroup,
  stopGroup,
  waitForListening,
} from "./harness.ts";

/** The executable a process runs (its /proc/<pid>/exe), or "" once it is gone. */
function exe(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return "";
  }
}

/** The start.sh private directories in the temporary directory the launcher was given. */
function privateDirs(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith("onlyboxes-start."));
}

/** Starts `npm start` on fresh data with an echo-only local worker, its temporary files under `tmp`. */
async function launch(dataDir: string, tmp: string, password: string): Promise<{ launcher: Proc; url: string }> {
  const port = await freePort();
  const launcher = spawnGroup(
    [START_SCRIPT],
    launcherEnv(
      { port, dataDir, hashKey: randomBytes(32).toString("hex"), username: "admin", password },
      { WORKER_DOCKER_ENABLED: "false", TMPDIR: tmp },
    ),
  );
  return { launcher, url: await waitForListening(launcher) };
}

describe("npm start's supervisor", () => {
  const password = `pw-${randomBytes(8).toString("hex")}`;
  let dataDir: string;
  let tmp: string;
  let launcher: Proc;
  let url: string;
  let token: string;

  const echo = (message: string) =>
    fetch(`${url}/api/v1/commands/echo`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ message, timeout_ms: 3000 }),
    });
  const workerPids = () => descendants(launcher.child.pid ?? -1).filter((p) => /onlyboxes-worker/.test(p.cmd));

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "onlyboxes-e2e-supervisor-"));
    tmp = await mkdtemp(join(tmpdir(), "onlyboxes-e2e-supervisor-tmp-"));
    ({ launcher, url } = await launch(dataDir, tmp, password));
    token = await createToken(url, await login(url, "admin", password), "supervisor");
    const served = await eventually(async () => (await echo("up")).status === 200, 30_000);
    if (!served) throw new Error(`the local worker never served:\n${launcher.output()}`);
  }, 180_000);

  afterAll(async () => {
    if (launcher) await stopGroup(launcher.child);
    await rm(dataDir, { recursive: true, force: true });
    await rm(tmp, { recursive: true, force: true });
  });

  it("keeps no Node process for the console: the shell, workerd and the local worker", () => {
    const pid = launcher.child.pid ?? -1;
    const procs = [{ pid, cmd: "" }, ...descendants(pid)].map((p) => ({ ...p, exe: exe(p.pid) }));
    const node = procs.filter((p) => p.exe === process.execPath);
    expect(node.map((p) => p.cmd)).toEqual([expect.stringMatching(/onlyboxes-worker/)]);
    expect(procs.some((p) => /workerd$/.test(p.exe))).toBe(true);
    expect(procs[0]?.exe).not.toBe(process.execPath);
  });

  it("starts a local worker that dies again, and the new one serves", async () => {
    const [old] = workerPids();
    expect(old).toBeDefined();
    process.kill(old?.pid ?? -1, "SIGKILL");
    const back = await eventually(async () => {
      const now = workerPids();
      if (now.length !== 1 || now[0]?.pid === old?.pid) return false;
      const res = await echo("again");
      return res.status === 200 && ((await res.json()) as { message?: string }).message === "again";
    }, 30_000);
    expect(back, launcher.output().slice(-2000)).toBe(true);
    expect(launcher.output()).toMatch(/local worker exited; started it again after 2 s/);
  });

  it("stops the worker and exits 1 when workerd dies, leaving nothing behind", async () => {
    const pid = launcher.child.pid ?? -1;
    const workerd = descendants(pid).find((p) => /workerd$/.test(exe(p.pid)));
    expect(workerd).toBeDefined();
    expect(privateDirs(tmp)).toHaveLength(1);
    const exited = new Promise<number | null>((resolve) => launcher.child.once("exit", (code) => resolve(code)));
    process.kill(workerd?.pid ?? -1, "SIGKILL");
    expect(await exited).toBe(1);
    expect(launcher.output()).toMatch(/workerd exited unexpectedly; stopping/);
    expect(groupAlive(pid)).toBe(false);
    expect(privateDirs(tmp)).toEqual([]);
    expect(existsSync(join(dataDir, "workerd.capnp"))).toBe(false);
  });
});

describe("Ctrl+C on npm start", () => {
  it("stops the worker and workerd, exits 0, starts nothing again and leaves nothing behind", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "onlyboxes-e2e-sigint-"));
    const tmp = await mkdtemp(join(tmpdir(), "onlyboxes-e2e-sigint-tmp-"));
    const password = `pw-${randomBytes(8).toString("hex")}`;
    const { launcher, url } = await launch(dataDir, tmp, password);
    try {
      const cookie = await login(url, "admin", password);
      const online = await eventually(async () => {
        const res = await fetch(`${url}/api/v1/workers?status=online`, { headers: { cookie } });
        return res.status === 200 && ((await res.json()) as { total: number }).total > 0;
      }, 30_000);
      expect(online).toBe(true);
      const pid = launcher.child.pid ?? -1;
      const exited = new Promise<number | null>((resolve) => launcher.child.once("exit", (code) => resolve(code)));
      process.kill(-pid, "SIGINT");
      expect(await exited).toBe(0);
      const out = launcher.output();
      expect(out).toMatch(/"msg":"stopping","signal":"SIGINT"/);
      expect(out).toMatch(/"msg":"stopped"/);
      expect(out).not.toMatch(/local worker exited/);
      expect(await eventually(async () => !groupAlive(pid), 5000, 50)).toBe(true);
      expect(privateDirs(tmp)).toEqual([]);
    } finally {
      await stopGroup(launcher.child);
      await rm(dataDir, { recursive: true, force: true });
      await rm(tmp, { recursive: true, force: true });
    }
  }, 120_000);
});
