#!/usr/bin/env node
// Start-up and footprint of `npm start` (scripts/start.mjs), as a user sees them: time from
// spawning the launcher to the first 200 on an /api/v1 route, to the local worker being
// online, and the resident memory of every process of the group once idle. Runs a fresh
// data directory first, then the same one again (what a restart costs).
//
//   node bench/startup-bench.mjs [--runs 2] [--idle-ms 5000] [--log <dir>]
//
// --log keeps each run's console and worker output in <dir>/startup-run-<n>.log.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fmt, freePort, numberArg, request, rssMiB, sleep, spawnLauncher, stopGroup } from "./lib.mjs";

const RUNS = numberArg("runs", 2);
const IDLE_MS = numberArg("idle-ms", 5000);
const TIMEOUT_MS = 120_000;
const logIndex = process.argv.indexOf("--log");
const LOG_DIR = logIndex > 0 ? process.argv[logIndex + 1] : undefined;

/** Every descendant of `pid` (depth first), with its command line. */
function descendants(pid) {
  const out = [];
  let kids = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {}
  for (const k of kids) {
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${k}/cmdline`, "utf8").replaceAll("\0", " ").trim();
    } catch {}
    out.push({ pid: k, cmd }, ...descendants(k));
  }
  return out;
}

const TICKS_PER_SEC = 100;

/** CPU seconds a process used, plus those of its children it has reaped (/proc/<pid>/stat). */
function cpuSeconds(pid, withReaped) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14-17 of stat(5): utime stime cutime cstime; f[0] is field 3.
    const [ut, st, cut, cst] = [f[11], f[12], f[13], f[14]].map(Number);
    return (ut + st + (withReaped ? cut + cst : 0)) / TICKS_PER_SEC;
  } catch {
    return 0;
  }
}

/** CPU seconds used so far by the launcher, everything it ran and finished, and everything still running under it. */
function treeCpuSeconds(pid) {
  return cpuSeconds(pid, true) + descendants(pid).reduce((s, p) => s + cpuSeconds(p.pid, true), 0);
}

function procName(cmd) {
  if (/workerd/.test(cmd)) return "workerd";
  if (/onlyboxes-worker/.test(cmd)) return "local worker";
  if (/esbuild/.test(cmd)) return "esbuild";
  return cmd.slice(0, 60);
}

/** One `npm start`-equivalent run on `dataDir`: answers the timings and the idle RSS per process. */
async function oneRun(n, dataDir, hashKey, password) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const { child, output } = spawnLauncher({ port, dataDir, password, hashKey });
  const deadline = Date.now() + TIMEOUT_MS;
  const alive = () => {
    if (child.exitCode !== null) throw new Error(`launcher exited ${child.exitCode}:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`timed out:\n${output()}`);
  };
  try {
    // First 200 on an /api/v1 route: the login (it reads the accounts table, so it needs the
    // migrations and the first admin). Polled as fast as the answers come.
    let cookie;
    for (;;) {
      alive();
      const r = await request(`${url}/api/v1/console/login`, {
        method: "POST",
        body: { username: "admin", password },
      }).catch(() => null);
      if (r?.status === 200) {
        cookie = /onlyboxes_console_session=[^;]+/.exec(String(r.headers["set-cookie"]))?.[0];
        break;
      }
      if (r === null) await sleep(5);
    }
    const consoleMs = performance.now() - t0;
    const consoleCpu = treeCpuSeconds(child.pid);
    let workerMs;
    for (;;) {
      alive();
      const r = await request(`${url}/api/v1/workers?status=online`, { headers: { cookie } });
      if (r.status === 200 && JSON.parse(r.body).total > 0) {
        workerMs = performance.now() - t0;
        break;
      }
      await sleep(5);
    }
    // Idle: nothing is asked of the console while memory settles.
    await sleep(IDLE_MS);
    const procs = [{ pid: child.pid, cmd: "launcher" }, ...descendants(child.pid)].map((p) => ({
      name: p.pid === child.pid ? "launcher (node scripts/start.mjs)" : procName(p.cmd),
      rss: rssMiB(p.pid),
    }));
    return { consoleMs, consoleCpu, workerMs, procs };
  } finally {
    if (LOG_DIR) writeFileSync(path.join(LOG_DIR, `startup-run-${n}.log`), output());
    await stopGroup(child);
  }
}

const dataDir = mkdtempSync(path.join(tmpdir(), "onlyboxes-startup-bench-"));
const hashKey = randomBytes(32).toString("hex");
const password = `pw-${randomBytes(8).toString("hex")}`;
const rows = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const label = i === 0 ? "fresh data" : "same data";
    process.stderr.write(`bench: run ${i + 1} (${label})\n`);
    const r = await oneRun(i + 1, dataDir, hashKey, password);
    rows.push({ label, ...r });
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

const lines = [
  "| run | console answers (s) | CPU used until then (s) | worker online (s) | worker after console (s) | RSS idle (MiB) |",
  "|---|---|---|---|---|---|",
];
for (const r of rows) {
  const total = r.procs.reduce((s, p) => s + (Number.isFinite(p.rss) ? p.rss : 0), 0);
  const each = r.procs.map((p) => `${p.name} ${fmt(p.rss)}`).join(", ");
  lines.push(
    `| ${r.label} | ${fmt(r.consoleMs / 1000)} | ${fmt(r.consoleCpu)} | ${fmt(r.workerMs / 1000)} | ${fmt((r.workerMs - r.consoleMs) / 1000)} | ${fmt(total)} (${each}) |`,
  );
}
lines.push(
  "",
  "CPU used: user+system seconds of the launcher and every process under it (finished ones included) until the console answered; unlike wall time it barely moves with the machine's load.",
);
lines.push("targets: console ≤ 3 s fresh / ≤ 1.5 s same data; worker ≤ 0.5 s after the console; RSS ≤ 200 MiB");
process.stdout.write(`${lines.join("\n")}\n`);
