#!/usr/bin/env node
// The whole test suite, as the README's test command runs it: makes sure the Docker
// Engine, the sandbox images, Chromium and the dashboard build are there, runs every
// suite on the real parts, and ends with one line: "N passed, N failed".
//
//   npm test                 every suite
//   npm test -- console e2e  only the named suites (proto, launcher, console, dashboard, cli, worker, e2e)
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outDir = path.join(root, "test-output");
mkdirSync(outDir, { recursive: true });

const suites = [
  // Fast suites first: pure logic, no workerd, Docker or browser.
  { name: "proto", cwd: "proto", args: [] },
  { name: "launcher", cwd: ".", nodeTest: "scripts/launcher/" },
  { name: "console", cwd: "console-worker", args: [] },
  { name: "dashboard", cwd: "dashboard", args: [] },
  { name: "cli", cwd: "cli", args: [] },
  { name: "worker", cwd: "worker-docker", args: [], docker: true },
  { name: "e2e", cwd: ".", args: ["--config", "e2e/vitest.config.ts"], docker: true, browser: true },
];
const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const selected = wanted.length ? suites.filter((s) => wanted.includes(s.name)) : suites;
if (wanted.length && selected.length !== wanted.length) {
  console.error(`unknown suite in ${wanted.join(", ")}; known: ${suites.map((s) => s.name).join(", ")}`);
  process.exit(2);
}

function step(title, cmd, args, opts = {}) {
  console.log(`\n=== ${title}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  if (r.status !== 0) {
    console.error(`${title} failed (exit ${r.status ?? r.signal})`);
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
}

if (selected.some((s) => s.docker)) {
  step("Docker Engine", "bash", ["scripts/docker-engine.sh"]);
  step("sandbox images", "bash", ["scripts/build-images.sh"]);
}
if (selected.some((s) => s.browser)) {
  if (!existsSync("/usr/bin/chromium")) {
    step("Chromium (Debian)", "bash", [
      "-c",
      "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null",
    ]);
  }
  step("dashboard build", "npm", ["run", "build", "-w", "dashboard"]);
}
// e2e/compose.test.ts brings compose.yaml up: the plugin or Debian's docker-compose.
if (selected.some((s) => s.name === "e2e")) {
  const plugin = spawnSync("docker", ["compose", "version"], { stdio: "ignore" }).status === 0;
  if (!plugin && !existsSync("/usr/bin/docker-compose")) {
    step("Docker Compose (Debian)", "bash", [
      "-c",
      "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose >/dev/null",
    ]);
  }
}

/** Managed containers on the engine with the node that owns each (docker ps). */
function managedContainers() {
  const ps = spawnSync(
    "docker",
    [
      "ps",
      "-a",
      "--filter",
      "label=dev.onlyboxes.managed=true",
      "--format",
      '{{.ID}}\t{{.Label "dev.onlyboxes.node-id"}}\t{{.Names}} {{.Status}}',
    ],
    { encoding: "utf8" },
  );
  if (ps.status !== 0) return { ok: false, error: ps.stderr || `docker ps exited with ${ps.status}`, containers: [] };
  const containers = ps.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [id = "", node = "", rest = ""] = l.split("\t");
      return { id, node, line: `${id} ${rest}${node ? ` (node ${node})` : ""}` };
    });
  return { ok: true, error: "", containers };
}

// What other workers on this engine own before the suites start (see the check at the end).
const before = { ids: new Set(), nodes: new Set() };
if (selected.some((s) => s.docker)) {
  for (const c of managedContainers().containers) {
    before.ids.add(c.id);
    if (c.node) before.nodes.add(c.node);
  }
}

let passed = 0;
let failed = 0;
let skipped = 0;
// Every failure by name, repeated just above the last line so a truncated log still says which.
const failures = [];
for (const s of selected) {
  const report = path.join(outDir, `vitest-${s.name}.json`);
  rmSync(report, { force: true });
  console.log(`\n=== suite: ${s.name}`);
  if (s.nodeTest) {
    // node:test suites (the launcher's plain .mjs modules): counts come from the TAP summary.
    const t = spawnSync(process.execPath, ["--test", "--test-reporter=tap", s.nodeTest], {
      cwd: path.join(root, s.cwd),
      encoding: "utf8",
    });
    process.stdout.write(t.stdout);
    process.stderr.write(t.stderr);
    const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, "m").exec(t.stdout)?.[1] ?? Number.NaN);
    const [p, f] = [count("pass"), count("fail")];
    if (Number.isNaN(p) || Number.isNaN(f) || (t.status !== 0 && f === 0)) {
      console.error(`suite ${s.name} exited with ${t.status ?? t.signal} without a summary; counted as one failure`);
      failures.push(`${s.name}: exited with ${t.status ?? t.signal} without a summary`);
      failed++;
    } else {
      passed += p;
      failed += f;
      for (const m of t.stdout.matchAll(/^\s*not ok \d+ - (.+)$/gm)) failures.push(`${s.name}: ${m[1]}`);
    }
    continue;
  }
  const r = spawnSync(
    path.join(root, "node_modules", ".bin", "vitest"),
    ["run", ...s.args, "--reporter=default", "--reporter=json", `--outputFile.json=${report}`],
    { cwd: path.join(root, s.cwd), stdio: "inherit", env: { ...process.env, CI: process.env.CI ?? "" } },
  );
  if (!existsSync(report)) {
    console.error(`suite ${s.name} produced no report (exit ${r.status ?? r.signal}); counted as one failure`);
    failures.push(`${s.name}: no report (exit ${r.status ?? r.signal})`);
    failed++;
    continue;
  }
  const j = JSON.parse(readFileSync(report, "utf8"));
  passed += j.numPassedTests ?? 0;
  failed += j.numFailedTests ?? 0;
  skipped += (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
  // A file that failed to load counts too (vitest reports it as a failed suite with no tests).
  const brokenFiles = (j.testResults ?? []).filter(
    (f) => f.status === "failed" && (f.assertionResults ?? []).length === 0,
  ).length;
  failed += brokenFiles;
  for (const file of j.testResults ?? []) {
    const where = path.relative(root, file.name ?? "");
    if (file.status === "failed" && (file.assertionResults ?? []).length === 0)
      failures.push(`${s.name}: ${where}: did not load`);
    for (const a of file.assertionResults ?? []) {
      if (a.status !== "failed") continue;
      const why = String(a.failureMessages?.[0] ?? "")
        .split("\n")[0]
        .slice(0, 300);
      failures.push(`${s.name}: ${where} > ${a.fullName}: ${why}`);
    }
  }
  if (r.status !== 0 && (j.numFailedTests ?? 0) === 0 && brokenFiles === 0) {
    console.error(`suite ${s.name} exited with ${r.status ?? r.signal} without a failed test; counted as one failure`);
    failures.push(`${s.name}: exited with ${r.status ?? r.signal} without a failed test`);
    failed++;
  }
}
// After every suite: no container of this run's workers may be left on the engine. Other
// Onlyboxes installations (say an `npm start` next to the tests) share the engine; their
// containers are told apart by node id: a node that owned containers before the suites ran
// is not one of ours (every suite's worker gets a fresh node id).
if (selected.some((s) => s.docker)) {
  const ps = managedContainers();
  const left = ps.ok ? ps.containers.filter((c) => !before.ids.has(c.id) && !before.nodes.has(c.node)) : [];
  if (ps.ok && left.length === 0) {
    const others = ps.containers.length;
    console.log(`\n=== check: no managed container left behind: ok${others ? ` (${others} of other workers ignored)` : ""}`);
    passed++;
  } else {
    failures.push("managed containers left behind");
    console.error(`\n=== check: managed containers left behind:\n${ps.ok ? left.map((c) => c.line).join("\n") : ps.error}`);
    failed++;
  }
}
if (failures.length > 0) console.log(`\n=== failed:\n${failures.map((f) => `- ${f}`).join("\n")}`);
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
