#!/usr/bin/env node
// Start-up and footprint of `npm start` (scripts/start.sh), as a user sees them: time from
// spawning the launcher to the first 200 on an /api/v1 route, to the local worker being
// online, and the resident memory of every process of the group once idle. Runs a fresh
// data directory first, then the same one again (what a restart costs).
//
//   node bench/startup-bench.mjs [--runs 2] [--idle-ms 5000] [--mixed 1000] [--log <dir>]
//
// --mixed: after the last run's idle figure, that many runs (echo, terminalExec in one
// session, pythonExec in turn, 4 at a time), then the RSS again once idle (0 skips it).
// --log keeps each run's console and worker output in <dir>/startup-run-<n>.log.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { childrenOf, fmt, freePort, numberArg, request, rssMiB, sleep, spawnLauncher, stopGroup } from "./lib.mjs";

const RUNS = numberArg("runs", 2);
const IDLE_MS = numberArg("idle-ms", 5000);
const MIXED = numberArg("mixed", 1000);
const MIXED_CONCURRENCY = 4;
const TIMEOUT_MS = 120_000;
const logIndex = process.argv.indexOf("--log");
const LOG_DIR = logIndex > 0 ? process.argv[logIndex + 1] : undefined;

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
  return cpuSeconds(pid, true) + childrenOf(pid).reduce((s, p) => s + cpuSeconds(p.pid, true), 0);
}

function procName(cmd) {
  if (/workerd/.test(cmd)) return "workerd";
  if (/onlyboxes-worker/.test(cmd)) return "local worker";
  if (/esbuild/.test(cmd)) return "esbuild";
  if (/start\.sh/.test(cmd)) return "worker loop (sh)";
  if (/shell-steps\.mjs/.test(cmd)) return "launcher steps (node)";
  return cmd.slice(0, 60);
}

/** Resident and proportional (shared pages split between their users) memory of a process, MiB. */
function memory(pid) {
  let pss = Number.NaN;
  try {
    const kb = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1];
    if (kb !== undefined) pss = Number(kb) / 1024;
  } catch {}
  return { rss: rssMiB(pid), pss };
}

function processes(pid) {
  return [{ pid, cmd: "launcher" }, ...childrenOf(pid)].map((p) => ({
    name: p.pid === pid ? "launcher (sh scripts/start.sh)" : procName(p.cmd),
    ...memory(p.pid),
  }));
}

/** `count` runs through the REST API, echo / terminalExec / pythonExec in turn; answers how many were not 2xx. */
async function mixedRuns(url, cookie, count) {
  const t = await request(`${url}/api/v1/console/tokens`, {
    method: "POST",
    headers: { cookie },
    body: { name: `startup-bench-${randomBytes(3).toString("hex")}` },
  });
  const token = JSON.parse(t.body).token;
  const auth = { authorization: `Bearer ${token}` };
  // One terminal session per lane: a session runs one command at a time.
  const sessions = Array.from({ length: MIXED_CONCURRENCY }, () => `bench-${randomBytes(4).toString("hex")}`);
  const kinds = [
    () => request(`${url}/api/v1/commands/echo`, { method: "POST", headers: auth, body: { message: "bench" } }),
    (lane) =>
      request(`${url}/api/v1/commands/terminal`, {
        method: "POST",
        headers: auth,
        body: { session_id: sessions[lane], create_if_missing: true, command: "echo bench" },
      }),
    () =>
      request(`${url}/api/v1/tasks`, {
        method: "POST",
        headers: auth,
        body: { capability: "pythonExec", input: { code: "print(1)" }, mode: "sync" },
      }),
  ];
  let next = 0;
  let failed = 0;
  const failures = new Map();
  const lane = async (n) => {
    while (next < count) {
      const i = next++;
      const r = await kinds[i % kinds.length](n).catch((err) => ({ status: String(err?.code ?? err) }));
      if (!(r.status >= 200 && r.status < 300)) {
        failed++;
        failures.set(r.status, (failures.get(r.status) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: MIXED_CONCURRENCY }, (_, n) => lane(n)));
  return { failed, failures: [...failures].map(([k, v]) => `${k}×${v}`).join(" ") };
}

/** One `npm start`-equivalent run on `dataDir`: answers the timings and the idle RSS per process. */
async function oneRun(n, dataDir, hashKey, password, mixed = 0) {
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
    const cpuEach = [{ pid: child.pid, cmd: "launcher" }, ...childrenOf(child.pid)].map(
      (p) => `${p.pid === child.pid ? "launcher" : procName(p.cmd)} ${fmt(cpuSeconds(p.pid, true))}`,
    );
    let workerMs;
    for (;;) {
      alive();
      // A refused connection means the console went away: alive() then reports the launcher's output.
      const r = await request(`${url}/api/v1/workers?status=online`, { headers: { cookie } }).catch(() => null);
      if (r?.status === 200 && JSON.parse(r.body).total > 0) {
        workerMs = performance.now() - t0;
        break;
      }
      await sleep(5);
    }
    // The worker says hello before its Docker is ready; its Docker capabilities follow.
    let dockerMs = Number.NaN;
    for (let i = 0; i < 6000; i++) {
      alive();
      const r = await request(`${url}/api/v1/workers?status=online`, { headers: { cookie } }).catch(() => null);
      const items = r?.status === 200 ? JSON.parse(r.body).items : [];
      if (items.some((w) => w.capabilities.some((cap) => cap.name === "pythonExec"))) {
        dockerMs = performance.now() - t0;
        break;
      }
      await sleep(5);
    }
    // Idle: nothing is asked of the console while memory settles.
    await sleep(IDLE_MS);
    const procs = processes(child.pid);
    let afterMixed;
    if (mixed > 0) {
      process.stderr.write(`bench: ${mixed} mixed runs\n`);
      const t1 = performance.now();
      const { failed, failures } = await mixedRuns(url, cookie, mixed);
      const seconds = (performance.now() - t1) / 1000;
      await sleep(IDLE_MS);
      afterMixed = { failed, failures, seconds, procs: processes(child.pid) };
    }
    return { consoleMs, consoleCpu, cpuEach, workerMs, dockerMs, procs, afterMixed };
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
    const r = await oneRun(i + 1, dataDir, hashKey, password, i === RUNS - 1 ? MIXED : 0);
    rows.push({ label, ...r });
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

const sum = (procs, key) => procs.reduce((s, p) => s + (Number.isFinite(p[key]) ? p[key] : 0), 0);
const each = (procs, key) => procs.map((p) => `${p.name} ${fmt(p[key])}`).join(", ");
const lines = [
  "| run | console answers (s) | CPU used until then (s) | worker online (s) | worker after console (s) | Docker capabilities after console (s) | RSS idle (MiB) | PSS idle (MiB) |",
  "|---|---|---|---|---|---|---|---|",
];
for (const r of rows) {
  lines.push(
    `| ${r.label} | ${fmt(r.consoleMs / 1000)} | ${fmt(r.consoleCpu)} (${r.cpuEach.join(", ")}) | ${fmt(r.workerMs / 1000)} | ${fmt((r.workerMs - r.consoleMs) / 1000)} | ${fmt((r.dockerMs - r.consoleMs) / 1000)} | ${fmt(sum(r.procs, "rss"))} (${each(r.procs, "rss")}) | ${fmt(sum(r.procs, "pss"))} (${each(r.procs, "pss")}) |`,
  );
}
const mixedRow = rows.at(-1)?.afterMixed;
if (mixedRow) {
  lines.push(
    "",
    `after ${MIXED} mixed runs (${fmt(mixedRow.seconds)} s, ${mixedRow.failed} not 2xx${mixedRow.failures ? `: ${mixedRow.failures}` : ""}), idle: RSS ${fmt(sum(mixedRow.procs, "rss"))} MiB (${each(mixedRow.procs, "rss")}); PSS ${fmt(sum(mixedRow.procs, "pss"))} MiB (${each(mixedRow.procs, "pss")})`,
  );
}
lines.push(
  "",
  "CPU used: user+system seconds of the launcher and every process under it (finished ones included) until the console answered; unlike wall time it barely moves with the machine's load.",
  "PSS splits pages shared between processes (the Node binary of the launcher and the worker) among them; RSS counts them in each.",
);
lines.push(
  "targets: console ≤ 3 s fresh / ≤ 1.5 s same data; worker ≤ 0.5 s after the console; RSS ≤ 200 MiB idle, ≤ 250 MiB after 1,000 mixed runs",
);
process.stdout.write(`${lines.join("\n")}\n`);
