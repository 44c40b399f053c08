/**
 * The `onlyboxes` CLI as a user gets it: `npm pack` of cli/, installed offline from the
 * tarball into an empty directory, run from there against the real self-hosted console,
 * its Docker worker and real sandboxes.
 */
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, type StartedConsole, startConsole, stopAndListLeftovers } from "./harness.ts";

const execFileAsync = promisify(execFile);

let installDir: string;
let bin: string;
let c: StartedConsole;

beforeAll(async () => {
  const packed = await execFileAsync(process.execPath, ["cli/scripts/pack.mjs"], { cwd: REPO_ROOT });
  const tarball = packed.stdout.trim().split("\n").pop() ?? "";
  expect(tarball).toMatch(/onlyboxes-[\d.]+\.tgz$/);
  installDir = await mkdtemp(join(tmpdir(), "onlyboxes-cli-"));
  await execFileAsync("npm", ["init", "-y"], { cwd: installDir });
  // --offline: the package must need nothing from a registry.
  await execFileAsync("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], { cwd: installDir });
  bin = join(installDir, "node_modules", ".bin", "onlyboxes");
  c = await startConsole({ capabilities: ["pythonExec", "terminalExec"] });
}, 240_000);

afterAll(async () => {
  expect(await stopAndListLeftovers(c)).toEqual([]);
  if (installDir) await rm(installDir, { recursive: true, force: true });
}, 90_000);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  /** When each stdout chunk arrived (ms since start). */
  arrivals: Array<{ at: number; text: string }>;
  ms: number;
}

/** Runs the installed CLI with only Node's PATH, the console URL and a token in its environment. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: installDir,
      env: { PATH: process.env.PATH ?? "", ONLYBOXES_URL: c.url, ONLYBOXES_TOKEN: c.token, ...env },
    });
    const ran: Ran = { code: null, stdout: "", stderr: "", arrivals: [], ms: 0 };
    child.stdout.on("data", (b: Buffer) => {
      ran.stdout += b.toString("utf8");
      ran.arrivals.push({ at: Date.now() - started, text: b.toString("utf8") });
    });
    child.stderr.on("data", (b: Buffer) => {
      ran.stderr += b.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => {
      ran.code = code;
      ran.ms = Date.now() - started;
      resolve(ran);
    });
  });
}

describe("the onlyboxes CLI installed from its tarball", () => {
  it("is a package with a bin and no dependencies", () => {
    const pkg = JSON.parse(readFileSync(join(installDir, "node_modules", "onlyboxes", "package.json"), "utf8")) as {
      bin: Record<string, string>;
      dependencies?: Record<string, string>;
    };
    expect(pkg.bin.onlyboxes).toBe("./onlyboxes.mjs");
    expect(pkg.dependencies).toBeUndefined();
  });

  it("run: streams a Python script's output live and exits with its code", async () => {
    const script = join(installDir, "count.py");
    await writeFile(
      script,
      ["import sys, time", "for i in range(10):", "    print('n', i, flush=True)", "    time.sleep(0.2)", "sys.exit(3)"].join(
        "\n",
      ),
    );
    const ran = await cli(["run", script]);
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(3);
    expect(ran.stdout).toBe(Array.from({ length: 10 }, (_, i) => `n ${i}\n`).join(""));
    // Live: the first line reached the terminal more than a second before the end.
    expect(ran.ms - (ran.arrivals[0]?.at ?? ran.ms)).toBeGreaterThan(1_000);
  });

  it("sh: runs in a new session (its id on stderr), and again in that session", async () => {
    const first = await cli(["sh", "echo kept > note.txt; echo made; exit 4"]);
    expect(first.code).toBe(4);
    expect(first.stdout).toBe("made\n");
    const session = /^onlyboxes: session (\S+)$/m.exec(first.stderr)?.[1];
    expect(session).toBeDefined();
    const second = await cli(["sh", "--session", session ?? "", "cat note.txt"]);
    expect(second).toMatchObject({ code: 0, stdout: "kept\n", stderr: "" });
  });

  it("says what is wrong: a bad token, a missing environment, a bad command line", async () => {
    const badToken = await cli(["sh", "true"], { ONLYBOXES_TOKEN: "obx_wrong" });
    expect(badToken.code).toBe(125);
    expect(badToken.stderr).toMatch(/invalid token/);
    const noEnv = await cli(["sh", "true"], { ONLYBOXES_URL: "" });
    expect(noEnv.code).toBe(2);
    expect(noEnv.stderr).toMatch(/set ONLYBOXES_URL/);
    const usage = await cli(["frobnicate"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown command: frobnicate/);
    const missing = await cli(["run", join(installDir, "nope.py")]);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toMatch(/ENOENT/);
  });
});
