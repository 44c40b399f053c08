/**
 * The `onlyboxes` CLI as a user gets it: `npm pack` of cli/, installed offline from the
 * tarball into an empty directory, run from there against the real self-hosted console,
 * its Docker worker and real sandboxes.
 */
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, type StartedConsole, startConsole, stopAndListLeftovers } from "./harness.ts";

const execFileAsync = promisify(execFile);
const FILE_LIMIT = 1024 * 1024;

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
  // A small file limit, so cp's too-large answer is reachable with a small file.
  c = await startConsole({ capabilities: ["pythonExec", "terminalExec"], env: { CONSOLE_FILE_MAX_BYTES: String(FILE_LIMIT) } });
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

/** Runs the installed CLI with only Node's PATH, the console URL and a token in its environment; `input` is its stdin. */
function cli(args: string[], env: Record<string, string> = {}, input = ""): Promise<Ran> {
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
    child.stdin.end(input);
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

  it("cp and session: a CSV in, Python reads it in that session, its output file out byte for byte", async () => {
    const made = await cli(["session", "new"]);
    expect(made).toMatchObject({ code: 0, stderr: "" });
    const session = made.stdout.trim();
    expect(session).toMatch(/^\S+$/);
    expect((await cli(["session", "ls"])).stdout).toContain(session);

    const csv = ["region,amount", ...Array.from({ length: 200 }, (_, i) => `r${i % 7},${i * 3}`)].join("\n");
    await writeFile(join(installDir, "sales.csv"), `${csv}\n`);
    const up = await cli(["cp", "sales.csv", `${session}:`]);
    expect(up).toMatchObject({ code: 0, stdout: "" });
    expect(up.stderr).toBe(`onlyboxes: ${session}:sales.csv (${csv.length + 1} bytes)\n`);
    // A target ending in / is a directory: the file keeps its base name there.
    expect((await cli(["cp", join(installDir, "sales.csv"), `${session}:in/`])).code).toBe(0);

    await writeFile(
      join(installDir, "report.py"),
      [
        "import csv, os",
        "rows = list(csv.DictReader(open('sales.csv')))",
        "assert open('in/sales.csv').read() == open('sales.csv').read()",
        "total = sum(int(r['amount']) for r in rows)",
        "os.makedirs('out', exist_ok=True)",
        "open('out/summary.bin', 'wb').write(bytes(range(256)) * 40 + str(total).encode())",
        "print('rows', len(rows), 'total', total)",
      ].join("\n"),
    );
    const ran = await cli(["run", "--session", session, "report.py"]);
    const total = Array.from({ length: 200 }, (_, i) => i * 3).reduce((a, b) => a + b, 0);
    expect(ran).toMatchObject({ code: 0, stdout: `rows 200 total ${total}\n`, stderr: "" });

    const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const want = Buffer.concat([...Array.from({ length: 40 }, () => everyByte), Buffer.from(String(total))]);
    await mkdir(join(installDir, "dl"));
    const down = await cli(["cp", `${session}:out/summary.bin`, "dl/"]);
    expect(down).toMatchObject({ code: 0, stdout: "" });
    expect((await readFile(join(installDir, "dl", "summary.bin"))).equals(want)).toBe(true);
    const named = await cli(["cp", `${session}:/workspace/out/summary.bin`, "dl/copy.bin"]);
    expect(named.code).toBe(0);
    expect((await readFile(join(installDir, "dl", "copy.bin"))).equals(want)).toBe(true);
    const toStdout = await cli(["cp", `${session}:sales.csv`, "-"]);
    expect(toStdout).toMatchObject({ code: 0, stdout: `${csv}\n`, stderr: "" });
    // stdin in (no declared length), read back through the shell of the same session.
    expect((await cli(["cp", "-", `${session}:notes/today.txt`], {}, "from stdin\n")).code).toBe(0);
    expect(await cli(["sh", "--session", session, "cat notes/today.txt"])).toMatchObject({ code: 0, stdout: "from stdin\n" });

    expect(await cli(["session", "rm", session])).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect((await cli(["session", "ls"])).stdout).not.toContain(session);
  });

  it("cp says what is wrong and exits 1, leaving nothing behind", async () => {
    const session = (await cli(["session", "new"])).stdout.trim();
    const missing = await cli(["cp", "nope.csv", `${session}:`]);
    expect(missing).toMatchObject({ code: 1, stderr: "onlyboxes: nope.csv: no such file\n" });

    await writeFile(join(installDir, "small.txt"), "hi\n");
    const unknown = await cli(["cp", "small.txt", "sess_no_such_session:"]);
    expect(unknown).toMatchObject({ code: 1, stderr: "onlyboxes: session not found (session_not_found)\n" });

    // Well over the limit: the console answers before the body is sent, and the CLI reads that answer.
    await writeFile(join(installDir, "big.bin"), Buffer.alloc(FILE_LIMIT * 16, 7));
    const big = await cli(["cp", "big.bin", `${session}:`]);
    expect(big.code).toBe(1);
    expect(big.stderr).toBe(`onlyboxes: the file is larger than the limit of ${FILE_LIMIT} bytes (file_too_large)\n`);
    const listed = await cli(["sh", "--session", session, "ls"]);
    expect(listed).toMatchObject({ code: 0, stdout: "" });

    const dir = join(installDir, "empty");
    await mkdir(dir);
    const absent = await cli(["cp", `${session}:no/such.txt`, "empty/"]);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toMatch(/^onlyboxes: .+ \(file_not_found\)\n$/);
    expect(await readdir(dir)).toEqual([]);

    const usage = await cli(["cp", "small.txt"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^onlyboxes: cp: where to\?/);
    expect((await cli(["session", "rm", session, "sess_no_such_session"])).code).toBe(1);
  });
});
