/**
 * The two runtimes of `npm start` share one data directory: what the console wrote under
 * Miniflare (CONSOLE_RUNTIME=miniflare) is there under bare workerd (the default) and the
 * other way round; and bare workerd serves the dashboard's files as the Miniflare path did.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createToken, eventually, freePort, launcherEnv, login, START_SCRIPT, spawnGroup, stopGroup } from "./harness.ts";

const START_TIMEOUT_MS = 120_000;

interface Launched {
  child: ChildProcess;
  url: string;
  output: () => string;
}

async function launch(dataDir: string, runtime: "workerd" | "miniflare", password: string): Promise<Launched> {
  const port = await freePort();
  const { child, output } = spawnGroup(
    [START_SCRIPT],
    launcherEnv(
      { port, dataDir, username: "admin", password, hashKey: "ab".repeat(32) },
      { CONSOLE_RUNTIME: runtime, CONSOLE_LOCAL_WORKER: "false" },
    ),
  );
  const ready = await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`the launcher exited with ${child.exitCode}:\n${output()}`);
    return /console listening on http:\/\//.test(output());
  }, START_TIMEOUT_MS);
  if (!ready) throw new Error(`the console did not start:\n${output()}`);
  return { child, url: `http://127.0.0.1:${port}`, output };
}

async function tokenNames(url: string, cookie: string): Promise<string[]> {
  const res = await fetch(`${url}/api/v1/console/tokens`, { headers: { cookie } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { items: { name: string }[] };
  return body.items.map((t) => t.name);
}

describe("one data directory, either runtime", () => {
  const password = `pw-${randomBytes(8).toString("hex")}`;
  let dataDir = "";
  let running: Launched | undefined;

  afterAll(async () => {
    if (running) await stopGroup(running.child);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("keeps what Miniflare wrote under bare workerd, and the other way round", async () => {
    dataDir = await mkdtemp(join(tmpdir(), "onlyboxes-e2e-runtime-"));
    running = await launch(dataDir, "miniflare", password);
    await createToken(running.url, await login(running.url, "admin", password), "made-under-miniflare");
    await stopGroup(running.child);

    running = await launch(dataDir, "workerd", password);
    let cookie = await login(running.url, "admin", password);
    expect(await tokenNames(running.url, cookie)).toContain("made-under-miniflare");
    await createToken(running.url, cookie, "made-under-workerd");
    await stopGroup(running.child);

    running = await launch(dataDir, "miniflare", password);
    cookie = await login(running.url, "admin", password);
    expect(await tokenNames(running.url, cookie)).toEqual(expect.arrayContaining(["made-under-miniflare", "made-under-workerd"]));
    await stopGroup(running.child);
    running = undefined;
  }, 300_000);

  it("serves the dashboard: files, the app's routes as index.html, 404 for a missing file", async () => {
    dataDir ||= await mkdtemp(join(tmpdir(), "onlyboxes-e2e-runtime-"));
    running = await launch(dataDir, "workerd", password);
    const index = await fetch(`${running.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await index.text();
    const route = await fetch(`${running.url}/tokens`);
    expect(route.status).toBe(200);
    expect(await route.text()).toBe(html);
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    if (asset === undefined) throw new Error(`no script in index.html:\n${html}`);
    const js = await fetch(`${running.url}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(js.headers.get("cache-control")).toContain("immutable");
    await js.arrayBuffer();
    const missing = await fetch(`${running.url}/assets/no-such-file.js`);
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
    await stopGroup(running.child);
    running = undefined;
  }, 180_000);
});
