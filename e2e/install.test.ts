/**
 * The installable worker as a user gets it: `npm pack` of the worker, installed from the
 * tarball into an empty directory (no registry, no checkout on the module path), started
 * from there against a real console, then echo and pythonExec run through it.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { post, python, REPO_ROOT, resultOf, type StartedConsole, startConsole, stopAndListLeftovers } from "./harness.ts";

const execFileAsync = promisify(execFile);

let installDir: string;
let installed: { path: string; cwd: string };
let c: StartedConsole;

beforeAll(async () => {
  const packed = await execFileAsync(process.execPath, ["worker-docker/scripts/pack.mjs"], { cwd: REPO_ROOT });
  const tarball = packed.stdout.trim().split("\n").pop() ?? "";
  expect(tarball).toMatch(/onlyboxes-worker-.*\.tgz$/);
  installDir = await mkdtemp(join(tmpdir(), "onlyboxes-install-"));
  await execFileAsync("npm", ["init", "-y"], { cwd: installDir });
  // --offline: the package must need nothing from a registry.
  await execFileAsync("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], { cwd: installDir });
  const pkgDir = join(installDir, "node_modules", "onlyboxes-worker");
  installed = { path: join(pkgDir, "onlyboxes-worker.mjs"), cwd: installDir };
  c = await startConsole({ separateWorker: true, workerScript: installed });
}, 240_000);

afterAll(async () => {
  expect(await stopAndListLeftovers(c)).toEqual([]);
  if (installDir) await rm(installDir, { recursive: true, force: true });
}, 90_000);

describe("the worker installed from its npm tarball", () => {
  it("is a package with a bin, a systemd unit and no dependencies", () => {
    const pkgDir = join(installDir, "node_modules", "onlyboxes-worker");
    const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as {
      name: string;
      bin: Record<string, string>;
      dependencies?: Record<string, string>;
    };
    expect(pkg.name).toBe("onlyboxes-worker");
    expect(pkg.bin["onlyboxes-worker"]).toBe("./onlyboxes-worker.mjs");
    expect(pkg.dependencies).toBeUndefined();
    expect(existsSync(join(installDir, "node_modules", ".bin", "onlyboxes-worker"))).toBe(true);
    expect(readFileSync(join(pkgDir, "onlyboxes-worker.service"), "utf8")).toMatch(/ExecStart=.*onlyboxes-worker/);
  });

  it("connects to the console and serves echo and pythonExec", async () => {
    const echoed = await post(c.url, c.token, "/api/v1/commands/echo", { message: "from the tarball" });
    expect(echoed.status).toBe(200);
    expect(echoed.body).toEqual({ message: "from the tarball" });
    const ran = await python(c, "print(6 * 7)");
    expect(ran.status).toBe(200);
    expect(resultOf(ran.body)).toMatchObject({ output: "42\n", exit_code: 0 });
  });
});
