// Unit tests of the launcher's parts that need no workerd and no Docker:
//   node --test scripts/launcher/
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { bundleConsole } from "./bundle.mjs";
import { bundleWorker } from "./bundle-worker.mjs";
import { loadLocalWorkerCredential, localWorkerEnv } from "./local-worker.mjs";
import { LauncherError } from "./log.mjs";
import { readMigrations } from "./migrations.mjs";
import { claimRuntimeVersion, compareVersions } from "./runtime-version.mjs";
import { consoleVars, localUrl, parseAddr, runtimeFrom } from "./settings.mjs";
import { envWords, shellAssignments, shellWord } from "./shell-steps.mjs";
import { sourceHash } from "./source-hash.mjs";
import { supervise } from "./supervise.mjs";
import { capnpString, D1_UNIQUE_KEY, workerdConfig } from "./workerd-config.mjs";

const tmp = mkdtempSync(path.join(tmpdir(), "onlyboxes-launcher-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("settings", () => {
  it("parses every CONSOLE_HTTP_ADDR form and refuses the rest with the variable's name", () => {
    assert.deepEqual(parseAddr(undefined), { host: "127.0.0.1", port: 8089 });
    assert.deepEqual(parseAddr(":9000"), { host: "0.0.0.0", port: 9000 });
    assert.deepEqual(parseAddr("[::1]:80"), { host: "::1", port: 80 });
    assert.throws(
      () => parseAddr("localhost"),
      (e) => e instanceof LauncherError && /CONSOLE_HTTP_ADDR/.test(e.message),
    );
    assert.throws(() => parseAddr("h:70000"), /out of range/);
  });

  it("reaches a wildcard bind through loopback", () => {
    assert.equal(localUrl("0.0.0.0", 80), "http://127.0.0.1:80");
    assert.equal(localUrl("::", 80), "http://[::1]:80");
    assert.equal(localUrl("10.0.0.2", 8089), "http://10.0.0.2:8089");
  });

  it("lets the launcher's own values win over the operator's and wrangler.toml's", () => {
    const vars = consoleVars(
      {
        CONSOLE_ENABLE_REGISTRATION: "true",
        CONSOLE_HASH_KEY: "from-env",
        CONSOLE_ALLOWED_ORIGINS: "https://a.example",
        CONSOLE_HTTP_ADDR: "127.0.0.1:1",
        CONSOLE_DB_PATH: "/d",
        PATH: "/bin",
      },
      { CONSOLE_ENABLE_REGISTRATION: "false", CONSOLE_REPO_URL: "r" },
      { CONSOLE_HASH_KEY: "chosen" },
    );
    assert.deepEqual(vars, {
      CONSOLE_ENABLE_REGISTRATION: "true",
      CONSOLE_REPO_URL: "r",
      CONSOLE_PASSWORD_ITERATIONS: "600000",
      CONSOLE_ALLOWED_ORIGINS: "https://a.example",
      CONSOLE_HASH_KEY: "chosen",
    });
  });

  it("uses 600000 PBKDF2 rounds on self-host unless the operator chose a count", () => {
    assert.equal(consoleVars({}, {}, {}).CONSOLE_PASSWORD_ITERATIONS, "600000");
    assert.equal(consoleVars({ CONSOLE_PASSWORD_ITERATIONS: "100000" }, {}, {}).CONSOLE_PASSWORD_ITERATIONS, "100000");
  });
});

describe("local worker", () => {
  it("passes only allow-listed variables, never CONSOLE_*, and sets its credential", () => {
    const allowed = { PATH: "/usr/bin", HOME: "/root", DOCKER_HOST: "unix:///x.sock", WORKER_LABELS: "a=b", LC_ALL: "C" };
    const refused = {
      CONSOLE_HASH_KEY: "k",
      CONSOLE_DASHBOARD_PASSWORD: "p",
      AWS_SECRET_ACCESS_KEY: "s",
      WORKER_ID: "overridden",
    };
    const env = localWorkerEnv({ ...allowed, ...refused }, { node_id: "id-1", secret: "obw_1" }, "http://127.0.0.1:8089");
    assert.deepEqual(env, {
      ...allowed,
      WORKER_ID: "id-1",
      WORKER_SECRET: "obw_1",
      WORKER_CONSOLE_URL: "http://127.0.0.1:8089",
      ONLYBOXES_LAUNCHER: "1",
      WORKER_CONSOLE_INSECURE: "true",
      WORKER_NODE_NAME: "local",
    });
  });

  it("keeps one credential per data directory, private to its owner, and replaces a damaged file", () => {
    const dir = mkdtempSync(path.join(tmp, "cred-"));
    const first = loadLocalWorkerCredential(dir);
    assert.match(first.node_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(loadLocalWorkerCredential(dir), first);
    const file = path.join(dir, "local-worker.json");
    assert.equal((statSync(file).mode & 0o777).toString(8), "600");
    writeFileSync(file, "{not json");
    assert.notEqual(loadLocalWorkerCredential(dir).node_id, first.node_id);
  });
});

describe("runtime version", () => {
  it("orders versions numerically", () => {
    assert.ok(compareVersions("4.20260426.0", "4.20260501.0") < 0);
    assert.ok(compareVersions("4.10.0", "4.9.9") > 0);
    assert.equal(compareVersions("1.2", "1.2.0"), 0);
  });

  it("refuses a data directory a newer runtime used, and records the current one", () => {
    const dir = mkdtempSync(path.join(tmp, "rv-"));
    claimRuntimeVersion(dir, "4.1.0");
    claimRuntimeVersion(dir, "4.2.0");
    assert.equal(readFileSync(path.join(dir, "runtime-version"), "utf8"), "4.2.0\n");
    assert.throws(() => claimRuntimeVersion(dir, "4.1.5"), /newer than this checkout's 4\.1\.5/);
  });
});

describe("migrations", () => {
  it("reads .sql files in name order, split at drizzle-kit's breakpoints", () => {
    const dir = mkdtempSync(path.join(tmp, "mig-"));
    writeFileSync(path.join(dir, "0001_b.sql"), "CREATE TABLE b (x);");
    writeFileSync(path.join(dir, "0000_a.sql"), "CREATE TABLE a (x);\n--> statement-breakpoint\nCREATE INDEX i ON a (x);\n");
    writeFileSync(path.join(dir, "notes.txt"), "ignored");
    assert.deepEqual(readMigrations(dir), [
      { name: "0000_a.sql", statements: ["CREATE TABLE a (x);", "CREATE INDEX i ON a (x);"] },
      { name: "0001_b.sql", statements: ["CREATE TABLE b (x);"] },
    ]);
  });
});

describe("source hash", () => {
  it("changes with a file's content or name, not with skipped folders", () => {
    const root = mkdtempSync(path.join(tmp, "hash-"));
    const write = (rel, text) => {
      const p = path.join(root, rel);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, text);
    };
    write("src/a.ts", "1");
    const h1 = sourceHash(root, ["src"]);
    write("src/node_modules/x.js", "ignored");
    write("src/test/a.test.ts", "ignored");
    assert.equal(sourceHash(root, ["src"]), h1);
    write("src/a.ts", "2");
    const h2 = sourceHash(root, ["src"]);
    assert.notEqual(h2, h1);
    assert.notEqual(sourceHash(root, ["src"], ["tool@2"]), h2);
  });
});

describe("supervise", () => {
  it("starts a process again after it exits, and stops it for good", async () => {
    let starts = 0;
    const exits = [];
    const s = supervise(
      () => {
        starts++;
        // The first run exits at once; the second stays until stopped.
        return spawn(process.execPath, ["-e", starts === 1 ? "process.exit(3)" : "setInterval(() => {}, 1000)"]);
      },
      { restartDelayMs: 10, onExit: (code) => exits.push(code) },
    );
    while (starts < 2) await new Promise((r) => setImmediate(r));
    const second = s.current();
    assert.ok(second);
    await s.stop(5000);
    assert.deepEqual(exits, [3]);
    assert.equal(second.signalCode, "SIGTERM");
    assert.equal(starts, 2);
  });
});

describe("runtime choice", () => {
  it("defaults to bare workerd, accepts miniflare, refuses anything else by the variable's name", () => {
    assert.equal(runtimeFrom({}), "workerd");
    assert.equal(runtimeFrom({ CONSOLE_RUNTIME: " Miniflare " }), "miniflare");
    assert.throws(
      () => runtimeFrom({ CONSOLE_RUNTIME: "node" }),
      (e) => e instanceof LauncherError && /CONSOLE_RUNTIME/.test(e.message),
    );
  });

  it("keeps CONSOLE_RUNTIME from the console Worker", () => {
    assert.equal(consoleVars({ CONSOLE_RUNTIME: "miniflare" }, {}, {}).CONSOLE_RUNTIME, undefined);
  });
});

describe("start.sh's words", () => {
  const nasty = ["plain", "two words", "it's", 'say "hi"', "$HOME `id` $(id) \\ \\n", "line\nbreak", "", "*", "-n"];

  it("reach sh as exactly the values they quote", () => {
    const script = `set -- ${nasty.map(shellWord).join(" ")}\nprintf '%s\\0' "$@"`;
    const out = execFileSync("sh", ["-c", script], { encoding: "utf8" });
    assert.deepEqual(out.split("\0").slice(0, -1), nasty);
    const assigned = execFileSync("sh", ["-c", `${shellAssignments({ a: nasty[4], b: nasty[5] })}printf '%s\\0' "$a" "$b"`], {
      encoding: "utf8",
    });
    assert.deepEqual(assigned.split("\0").slice(0, -1), [nasty[4], nasty[5]]);
    assert.throws(() => shellAssignments({ "a;b": "x" }), /not a shell variable name/);
  });

  it("give the worker, through eval and env -i, exactly its environment and nothing of the shell's", () => {
    const vars = Object.fromEntries(nasty.map((v, i) => [`V${i}`, v]));
    const cmd = [process.execPath, "-e", "process.stdout.write(JSON.stringify(process.env))"].map(shellWord).join(" ");
    // As start.sh has them: shell variables from the boot step's assignments, expanded inside eval.
    const script = `${shellAssignments({ worker_env: envWords({ ...vars, "NOT-A-NAME": "x" }), worker_cmd: cmd })}eval "exec env -i $worker_env $worker_cmd"`;
    const out = execFileSync("sh", ["-c", script], { encoding: "utf8", env: { ...process.env, CONSOLE_HASH_KEY: "secret" } });
    assert.deepEqual(JSON.parse(out), vars);
  });
});

describe("workerd config", () => {
  it("writes Cap'n Proto strings that cannot end early or break a line", () => {
    assert.equal(capnpString('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(capnpString("x\ny\0"), '"x\\x0ay\\x00"');
    assert.equal(capnpString("é ✓"), '"é ✓"');
  });

  it("names objects and files as Miniflare does, and keeps every variable inside its string", () => {
    const text = workerdConfig({
      scriptName: "onlyboxes-console",
      options: {
        compatibilityDate: "2026-04-20",
        compatibilityFlags: ["nodejs_compat"],
        durableObjects: { SESSION: { className: "Session" } },
        d1Databases: { DB: { id: "db-id" } },
      },
      vars: { CONSOLE_X: 'evil"), (name = "Y' },
      listen: "127.0.0.1:0",
      controlToken: "t",
      v8Flags: ["--max-semi-space-size=1"],
      paths: {
        consoleModules: [{ name: "index.js", path: "b/index.js" }],
        d1Module: "d.js",
        assetsModule: "a.js",
        controlModule: "c.js",
        doDir: "/data/do",
        d1Dir: "/data/d1",
        distDir: "/dist",
      },
    });
    assert.match(text, /uniqueKey = "onlyboxes-console-Session"/);
    assert.match(text, new RegExp(`uniqueKey = "${D1_UNIQUE_KEY}"`));
    assert.match(text, /\(name = "CONSOLE_X", text = "evil\\"\), \(name = \\"Y"\)/);
    assert.doesNotMatch(text, /name = "Y"/);
    assert.match(text, /^ {2}v8Flags = \["--max-semi-space-size=1"\],$/m);
  });
});
describe("local worker bundle", () => {
  const root = path.resolve(import.meta.dirname, "..", "..");

  it("loads ssh2 and gRPC only when used, and then the real ones", async () => {
    // A child, so no other test's imports decide what is already loaded.
    const code = `
      import { createRequire } from "node:module";
      import { workerRequire } from ${JSON.stringify(path.join(import.meta.dirname, "worker-require.mjs"))};
      const from = ${JSON.stringify(path.join(root, "worker-docker", "package.json"))};
      const req = workerRequire(from);
      const loaded = (pkg) => Object.keys(req.cache).some((k) => k.includes("/node_modules/" + pkg + "/"));
      const { Client } = req("ssh2");
      const grpc = req("@grpc/grpc-js");
      const before = [loaded("ssh2"), loaded("@grpc/grpc-js")];
      const client = new Client();
      const real = client instanceof createRequire(from)("ssh2").Client;
      const creds = typeof grpc.credentials.createInsecure;
      console.log(JSON.stringify({ before, after: [loaded("ssh2"), loaded("@grpc/grpc-js")], real, creds }));`;
    const out = await new Promise((resolve, reject) => {
      const c = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
      let text = "";
      c.stdout.on("data", (b) => (text += b));
      c.on("exit", (status) => (status === 0 ? resolve(text) : reject(new Error(`child exited ${status}`))));
    });
    assert.deepEqual(JSON.parse(out), { before: [false, false], after: [true, true], real: true, creds: "function" });
  });

  it("keeps ssh2, gRPC and prom-client out of the worker's Docker code at import", async () => {
    const entry = bundleWorker(root);
    const code = `
      import { createRequire } from "node:module";
      import { readdirSync } from "node:fs";
      const dir = ${JSON.stringify(path.dirname(entry))};
      const docker = readdirSync(dir).find((f) => f.startsWith("docker-capabilities"));
      const m = await import(dir + "/" + docker);
      const req = createRequire(import.meta.url);
      const loaded = (pkg) => Object.keys(req.cache).some((k) => k.includes("/node_modules/" + pkg + "/"));
      const [ssh2, grpc, prom] = ["ssh2", "@grpc/grpc-js", "prom-client"].map(loaded);
      console.log(JSON.stringify({ backend: typeof m.createDockerBackend, ssh2, grpc, prom }));`;
    const out = await new Promise((resolve, reject) => {
      const c = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
      let text = "";
      c.stdout.on("data", (b) => (text += b));
      c.on("exit", (status) => (status === 0 ? resolve(text) : reject(new Error(`child exited ${status}`))));
    });
    assert.deepEqual(JSON.parse(out), { backend: "function", ssh2: false, grpc: false, prom: false });
  });
});

describe("prebuilt bundle", () => {
  it("uses CONSOLE_BUNDLE_DIR as it is and never bundles", () => {
    const dir = path.join(tmp, "prebuilt");
    mkdirSync(dir);
    writeFileSync(path.join(dir, "index.js"), "export default {};\n");
    const options = { compatibilityDate: "2026-04-20" };
    writeFileSync(path.join(dir, "launcher-cache.json"), JSON.stringify({ hash: "h", options, vars: { A: "1" } }));
    // No checkout at this root: bundling for real would fail.
    const r = bundleConsole(path.join(tmp, "no-checkout"), { CONSOLE_BUNDLE_DIR: dir });
    assert.deepEqual(r, { bundleDir: dir, options, vars: { A: "1" }, cached: true });
  });

  it("refuses a CONSOLE_BUNDLE_DIR without a bundle, naming the variable", () => {
    const dir = path.join(tmp, "empty-prebuilt");
    mkdirSync(dir);
    assert.throws(
      () => bundleConsole(tmp, { CONSOLE_BUNDLE_DIR: dir }),
      (e) => e instanceof LauncherError && /CONSOLE_BUNDLE_DIR/.test(e.message),
    );
  });
});
