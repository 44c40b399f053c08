/**
 * `npm start` as a client sees it from its first moment: requests fired while the launcher
 * is still starting never get a 5xx other than 503 with Retry-After, and the local worker's
 * process holds none of the console's secrets.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  descendants,
  eventually,
  freePort,
  launcherEnv,
  login,
  type Proc,
  START_SCRIPT,
  spawnGroup,
  stopGroup,
} from "./harness.ts";

interface Answer {
  probe: string;
  status: number;
  retryAfter: string | null;
  /** Whether the launcher had printed "console listening" when the answer arrived. */
  afterReady: boolean;
}

describe("npm start from its first moment", () => {
  const hashKey = randomBytes(32).toString("hex");
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const extraSecret = randomBytes(16).toString("hex");
  let dataDir: string;
  let launcher: Proc;
  let url: string;
  const answers: Answer[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "onlyboxes-e2e-boot-"));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    launcher = spawnGroup(
      [START_SCRIPT],
      launcherEnv(
        { port, dataDir, hashKey, username: "admin", password },
        // Any CONSOLE_* variable, known or not, stays with the console.
        { CONSOLE_SOMETHING_PRIVATE: extraSecret, WORKER_DOCKER_ENABLED: "false" },
      ),
    );

    // From the moment the process exists, several clients ask as fast as answers come
    // (a refused connection is retried at once) until the console serves the API.
    const probes: [string, () => Promise<Response>][] = [
      ["GET /api/v1/console/session", () => fetch(`${url}/api/v1/console/session`)],
      [
        "POST /api/v1/console/login",
        () =>
          fetch(`${url}/api/v1/console/login`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ username: "admin", password: "wrong" }),
          }),
      ],
      ["POST /mcp", () => fetch(`${url}/mcp`, { method: "POST", body: "{}" })],
      ["GET /api/v1/workers", () => fetch(`${url}/api/v1/workers`)],
    ];
    const deadline = Date.now() + 120_000;
    let served = false;
    await Promise.all(
      probes.map(async ([probe, send]) => {
        while (!served && Date.now() < deadline && launcher.child.exitCode === null) {
          let res: Response;
          try {
            res = await send();
          } catch {
            continue; // not listening yet
          }
          await res.arrayBuffer();
          answers.push({
            probe,
            status: res.status,
            retryAfter: res.headers.get("retry-after"),
            afterReady: launcher.output().includes("console listening on"),
          });
          if (probe.startsWith("GET /api/v1/console/session") && res.status === 401) served = true;
        }
      }),
    );
    if (!served) throw new Error(`the console never served the API:\n${launcher.output()}`);
  }, 150_000);

  afterAll(async () => {
    if (launcher) await stopGroup(launcher.child);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("answers nothing but 503 with Retry-After until it is ready, never a 500", () => {
    const bad = answers.filter((a) => a.status >= 500 && !(a.status === 503 && a.retryAfter !== null));
    expect(bad, JSON.stringify(bad.slice(0, 5))).toEqual([]);
    // The probes did reach the console while it was still starting.
    expect(answers.filter((a) => !a.afterReady).length).toBeGreaterThan(0);
  });

  it("serves the API once ready", async () => {
    await expect(login(url, "admin", password)).resolves.toMatch(/^onlyboxes_console_session=/);
  });

  it("gives the local worker no CONSOLE_* variable and none of their values", async () => {
    const pid = launcher.child.pid;
    if (pid === undefined) throw new Error("no launcher pid");
    let workerPid: number | undefined;
    await eventually(async () => {
      workerPid = descendants(pid).find((p) => /onlyboxes-worker/.test(p.cmd))?.pid;
      return workerPid !== undefined;
    }, 30_000);
    if (workerPid === undefined) throw new Error(`no local worker process under the launcher:\n${launcher.output()}`);
    const environ = readFileSync(`/proc/${workerPid}/environ`, "utf8").split("\0").filter(Boolean);
    const names = environ.map((kv) => kv.slice(0, kv.indexOf("=")));
    expect(names).toContain("WORKER_ID");
    expect(names.filter((n) => n.startsWith("CONSOLE_"))).toEqual([]);
    for (const secret of [hashKey, password, extraSecret]) {
      expect(environ.some((kv) => kv.includes(secret))).toBe(false);
    }
  });
});
