#!/usr/bin/env node
// The execution plane, side by side in one run: what a container costs by each route, what
// the worker's capabilities answer in, and the same work end to end through the console's
// REST API. Prints median and p90 (ms) per line, the ratios c/a and e/d, and pythonExec
// throughput at 8 concurrent callers. Bounded: stops by itself and removes what it created.
//
//   node bench/docker-bench.mjs [--runs 15] [--quick-runs 60]
//
//   a   docker run --rm IMAGE python3 -c 'print(1)'          (CLI, cold container)
//   b   dockerode create + start + wait + remove             (API, cold container; what the established Onlyboxes does per run)
//   c0  pythonExec through the capability (fresh container per run; pool refilled / drained)
//   c   pythonExec through the console's REST API (POST /api/v1/tasks, sync)
//   d   docker exec into a running container: true / echo / sh -lc 'echo hi'
//   e0  terminalExec through the capability on a warm session (persistent shell server)
//   e   terminalExec through the console's REST API on a warm session
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { register } from "tsx/esm/api";

register();
const { createDockerBackend } = await import("../worker-docker/src/capabilities/docker-capabilities.ts");
const { parseDockerConfig } = await import("../worker-docker/src/docker-config.ts");
const { DockerContainerClient } = await import("../worker-docker/src/docker/docker-container-client.ts");
const { ContainerTracker } = await import("../worker-docker/src/docker/container-tracker.ts");
const { pythonSpec, terminalSpec } = await import("../worker-docker/src/docker/sandbox-spec.ts");
const { createLogger } = await import("../worker-docker/src/log.ts");

const execFileAsync = promisify(execFile);
const { numberArg, request, signInWithToken, startConsole } = await import("./lib.mjs");
const RUNS = numberArg("runs", 15);
const QUICK = numberArg("quick-runs", 60);

const log = createLogger({ component: "bench" }, "error");
const config = parseDockerConfig({ ...process.env, WORKER_ID: `bench-${randomBytes(4).toString("hex")}` });
const client = new DockerContainerClient(config.endpoint, log);
const tracker = new ContainerTracker(client, log);
const IMAGE = config.pythonImage;

function stats(samples) {
  const s = [...samples].sort((x, y) => x - y);
  const at = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  return { n: s.length, median: at(50), p90: at(90) };
}

const rows = [];
async function measure(label, n, fn, pauseMs = 0) {
  process.stderr.write(`bench: ${label} ×${n}\n`);
  await fn(); // warm-up, not counted
  const lat = [];
  for (let i = 0; i < n; i++) {
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    const t = performance.now();
    await fn();
    lat.push(performance.now() - t);
  }
  const r = { label, ...stats(lat) };
  rows.push(r);
  return r;
}

function ctx(timeoutMs = 60_000) {
  return {
    commandId: `bench-${randomBytes(4).toString("hex")}`,
    deadlineUnixMs: Date.now() + timeoutMs,
    signal: new AbortController().signal,
    log,
  };
}

function expectEqual(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

const backend = await createDockerBackend(config, log);
let idle = null;
try {
  if (backend.capabilities().length !== 3)
    throw new Error("Docker capabilities not served: run scripts/docker-engine.sh and scripts/build-images.sh");
  const cap = (name) => backend.capabilities().find((c) => c.name === name);

  // a: the CLI route, as a user would type it.
  await measure("a  docker run --rm python3 -c 'print(1)'", RUNS, async () => {
    const { stdout } = await execFileAsync("docker", ["run", "--rm", "--network", "none", IMAGE, "python3", "-c", "print(1)"]);
    expectEqual(stdout, "1\n", "docker run");
  });

  // b: the API route for one cold container with the same hardening as pythonExec.
  await measure("b  dockerode create+start+wait+remove", RUNS, async () => {
    const spec = { ...pythonSpec(config), entrypoint: ["python3", "-c", "print(1)"], openStdin: false };
    const id = await client.create(spec);
    tracker.add(id);
    await client.start(id);
    const st = await client.wait(id);
    expectEqual(st.exitCode, 0, "exit code");
    await tracker.remove(id);
  });

  // d: exec into a running container (the route a terminal could take per command).
  const idleSpec = { ...terminalSpec(config, "bench-exec"), entrypoint: ["sleep", "3600"], openStdin: false };
  idle = await client.create(idleSpec);
  tracker.add(idle);
  await client.start(idle);
  const execRun = (cmd) => async () => {
    let out = "";
    const code = await client.exec(idle, { cmd, user: config.limits.user }, (stream, data) => {
      if (stream === "stdout") out += data.toString();
    });
    expectEqual(code, 0, "exec exit code");
    return out;
  };
  await measure("d  docker exec: true", RUNS * 2, execRun(["true"]));
  await measure("d  docker exec: echo hi", RUNS * 2, execRun(["echo", "hi"]));
  await measure("d  docker exec: sh -lc 'echo hi' (terminal via exec)", RUNS * 2, execRun(["sh", "-lc", "echo hi"]));

  // e: the capability: with the pool refilled between runs (a pause not counted), and back
  // to back, where the engine's container start rate is the limit.
  const printOne = async () => {
    const r = await cap("pythonExec").run({ code: "print(1)" }, ctx());
    expectEqual(r.output, "1\n", "pythonExec output");
  };
  await measure("c0 pythonExec capability print(1), warm pool (2 s pauses)", RUNS, printOne, 2000);
  await measure("c0 pythonExec capability print(1), back to back", RUNS * 2, printOne);

  // f: a warm session served by the persistent shell.
  const sessionId = `bench-${randomBytes(4).toString("hex")}`;
  await cap("terminalExec").run({ session_id: sessionId, command: "true", create_if_missing: true }, ctx());
  await measure("e0 terminalExec capability echo hi (warm session)", QUICK, async () => {
    const r = await cap("terminalExec").run({ session_id: sessionId, command: "echo hi; echo err >&2" }, ctx());
    expectEqual(r.stdout, "hi\n", "terminalExec stdout");
    expectEqual(r.stderr, "err\n", "terminalExec stderr");
  });
  await measure("e0 terminalExec capability create session + echo hi (cold)", Math.max(3, Math.floor(RUNS / 2)), async () => {
    const r = await cap("terminalExec").run(
      { session_id: `bench-${randomBytes(4).toString("hex")}`, command: "echo hi", create_if_missing: true },
      ctx(),
    );
    expectEqual(r.created, true, "created");
  });
} finally {
  await backend.close();
  await tracker.removeAll();
}

// c and e: the same work end to end through the console's REST API, on the self-hosted
// runtime with its local worker (a real worker process on the same engine).
const consoleRows = { c: null, cBack: null, e: null, throughput: null };
{
  const c = await startConsole();
  try {
    const { token } = await signInWithToken(c);
    const auth = { authorization: `Bearer ${token}` };
    /** `print(1)` through the REST tasks API in sync mode. */
    const printOneViaRest = () =>
      request(`${c.url}/api/v1/tasks`, {
        method: "POST",
        headers: auth,
        body: { capability: "pythonExec", input: { code: "print(1)" }, mode: "sync" },
      });
    const until = Date.now() + 120_000;
    // The local worker declares the Docker capabilities once its engine check has run.
    for (;;) {
      const r = await printOneViaRest();
      if (r.status === 200) break;
      if (Date.now() > until) throw new Error(`pythonExec never became available: ${r.status} ${r.body}`);
      await new Promise((res) => setTimeout(res, 500));
    }
    const pyTask = async () => {
      const r = await printOneViaRest();
      expectEqual(r.status, 200, `pythonExec task status (${r.body})`);
      expectEqual(JSON.parse(r.body).result.output, "1\n", "pythonExec task output");
    };
    consoleRows.c = await measure("c  pythonExec via REST (POST /api/v1/tasks sync), warm pool (2 s pauses)", RUNS, pyTask, 2000);
    consoleRows.cBack = await measure("c  pythonExec via REST, back to back", RUNS * 2, pyTask);
    const first = await request(`${c.url}/api/v1/commands/terminal`, {
      method: "POST",
      headers: auth,
      body: { command: "true" },
    });
    expectEqual(first.status, 200, `terminal create (${first.body})`);
    const sessionId = JSON.parse(first.body).session_id;
    consoleRows.e = await measure("e  terminalExec via REST (POST /api/v1/commands/terminal), warm session", QUICK, async () => {
      const r = await request(`${c.url}/api/v1/commands/terminal`, {
        method: "POST",
        headers: auth,
        body: { session_id: sessionId, command: "echo hi; echo err >&2" },
      });
      expectEqual(r.status, 200, `terminal status (${r.body})`);
      expectEqual(JSON.parse(r.body).stdout, "hi\n", "terminal stdout");
    });
    // Throughput: 8 callers on one worker (max_inflight 4 per capability: the rest get 429 and retry).
    process.stderr.write("bench: pythonExec throughput, 8 concurrent callers\n");
    const total = RUNS * 2;
    let next = 0;
    let retries = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < total) {
          next++;
          for (;;) {
            const r = await printOneViaRest();
            if (r.status === 200) break;
            if (r.status !== 429) throw new Error(`throughput run: ${r.status} ${r.body}`);
            retries++;
            await new Promise((res) => setTimeout(res, 20));
          }
        }
      }),
    );
    consoleRows.throughput = { runsPerSec: total / ((performance.now() - t0) / 1000), total, retries };
  } finally {
    await c.stop();
  }
}

const width = Math.max(...rows.map((r) => r.label.length));
console.log(`${"route".padEnd(width)}  ${"n".padStart(4)}  ${"median".padStart(8)}  ${"p90".padStart(8)}`);
for (const r of rows) {
  console.log(
    `${r.label.padEnd(width)}  ${String(r.n).padStart(4)}  ${r.median.toFixed(1).padStart(8)}  ${r.p90.toFixed(1).padStart(8)}`,
  );
}
const find = (label) => rows.find((r) => r.label.startsWith(label));
const a = find("a ");
const dTrue = find("d  docker exec: true");
if (consoleRows.c && a) {
  console.log(
    `ratio c/a (pythonExec via REST, warm pool / docker run --rm): median ${(consoleRows.c.median / a.median).toFixed(3)}, p90 ${(consoleRows.c.p90 / a.p90).toFixed(3)}  (goal: median <= 0.25)`,
  );
  console.log(`ratio c/a back to back: median ${(consoleRows.cBack.median / a.median).toFixed(3)}`);
}
if (consoleRows.e && dTrue) {
  console.log(
    `ratio e/d (terminalExec via REST, warm session / docker exec true): median ${(consoleRows.e.median / dTrue.median).toFixed(3)}, p90 ${(consoleRows.e.p90 / dTrue.p90).toFixed(3)}  (goal: median <= 0.5)`,
  );
}
if (consoleRows.throughput) {
  const t = consoleRows.throughput;
  console.log(
    `pythonExec throughput, 8 concurrent callers on one worker: ${t.runsPerSec.toFixed(2)} runs/s (${t.total} runs, ${t.retries} retried after 429)`,
  );
}
const load = (await execFileAsync("cat", ["/proc/loadavg"])).stdout.split(" ").slice(0, 3).join(" ");
console.log(
  `(ms; ${new Date().toISOString()}; load average ${load}; ${config.limits.nanoCpus / 1e9} cpu, ${config.limits.memoryBytes / 2 ** 20} MiB per container)`,
);
