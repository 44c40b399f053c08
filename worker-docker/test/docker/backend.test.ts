import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { createDockerBackend, type DockerBackend } from "../../src/capabilities/docker-capabilities.ts";
import type { Capability } from "../../src/capabilities/types.ts";
import { LABEL_MANAGED, LABEL_NODE, LABEL_SESSION } from "../../src/docker/container-client.ts";
import { createLogger } from "../../src/log.ts";
import { containersWith, ctx, DOCKER_CAPABILITIES, eventually, marker, type PythonResult, testConfig } from "./harness.ts";

const execFileAsync = promisify(execFile);

function capOf(backend: DockerBackend, name: string): Capability {
  const c = backend.capabilities().find((x) => x.name === name);
  if (!c) throw new Error(`${name} is not served`);
  return c;
}

/** A logger that keeps its lines for assertions. */
function recordingLogger() {
  const lines: Array<{ level: string; msg: string }> = [];
  const log = createLogger({}, "debug", (line) => lines.push(JSON.parse(line) as { level: string; msg: string }));
  return { log, lines };
}

/** A Unix socket that forwards to the real engine while `open`; lets a test make the engine appear and vanish. */
class EngineProxy {
  readonly socketPath = path.join(tmpdir(), `${marker("engine")}.sock`);
  private server: Server | null = null;
  private readonly conns = new Set<Socket>();

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect("/var/run/docker.sock");
      this.conns.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
    });
    await new Promise<void>((resolve) => server.listen(this.socketPath, resolve));
    this.server = server;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }
}

const proxies: EngineProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
});

describe("Docker backend", () => {
  it("does not throw without an engine, logs one clear line, then serves once the engine appears and withdraws when it vanishes", async () => {
    const proxy = new EngineProxy();
    proxies.push(proxy);
    const { log, lines } = recordingLogger();
    const config = testConfig({ DOCKER_HOST: `unix://${proxy.socketPath}`, WORKER_DOCKER_POLL_INTERVAL_MS: "200" });
    const backend = await createDockerBackend(config, log);
    try {
      expect(backend.capabilities()).toEqual([]);
      let changes = 0;
      backend.onChange(() => changes++);
      // Several probes fail (each logged at debug), yet the operator sees one warning.
      expect(
        await eventually(async () => lines.filter((l) => l.msg === "Docker Engine still unreachable").length >= 2, 10_000),
      ).toBe(true);
      const warnings = lines.filter((l) => l.level === "warn" || l.level === "error");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toMatch(/Docker Engine unreachable at .*engine-.*\.sock.*scripts\/docker-engine\.sh/);

      await proxy.open();
      expect(await eventually(async () => backend.capabilities().length === DOCKER_CAPABILITIES.length, 15_000)).toBe(true);
      expect(changes).toBeGreaterThanOrEqual(1);
      expect(await capOf(backend, "pythonExec").run({ code: "print(6 * 7)" }, ctx())).toEqual({
        output: "42\n",
        stderr: "",
        exit_code: 0,
        images: [],
      });

      const before = changes;
      await proxy.close();
      expect(await eventually(async () => backend.capabilities().length === 0, 10_000)).toBe(true);
      expect(changes).toBeGreaterThan(before);
      expect(lines.some((l) => /Docker Engine went away/.test(l.msg))).toBe(true);

      // Back again: served anew, and the containers of the earlier life are swept by label.
      await proxy.open();
      expect(await eventually(async () => backend.capabilities().length === DOCKER_CAPABILITIES.length, 15_000)).toBe(true);
    } finally {
      await backend.close();
    }
    expect(await eventually(async () => (await containersWith({ [LABEL_NODE]: config.nodeId })).length === 0, 10_000)).toBe(true);
  });

  it("removes leftovers carrying this node's labels on start, and everything it created on close", async () => {
    const config = testConfig();
    const other = testConfig();
    const labels = (nodeId: string) => ["--label", `${LABEL_MANAGED}=true`, "--label", `${LABEL_NODE}=${nodeId}`];
    const { stdout: mine } = await execFileAsync("docker", ["create", ...labels(config.nodeId), config.pythonImage, "true"]);
    const { stdout: theirs } = await execFileAsync("docker", ["create", ...labels(other.nodeId), config.pythonImage, "true"]);
    const backend = await createDockerBackend(config, createLogger({}, "error"));
    try {
      const ids = await containersWith({ [LABEL_NODE]: config.nodeId });
      expect(ids).not.toContain(mine.trim());
      expect(await containersWith({ [LABEL_NODE]: other.nodeId })).toEqual([theirs.trim()]);
      await capOf(backend, "terminalExec").run({ session_id: marker("sess"), command: "true", create_if_missing: true }, ctx());
      expect(((await capOf(backend, "pythonExec").run({ code: "print(1)" }, ctx())) as PythonResult).output).toBe("1\n");
      expect((await containersWith({ [LABEL_NODE]: config.nodeId })).length).toBeGreaterThan(0);
    } finally {
      await backend.close();
      await execFileAsync("docker", ["rm", "-f", theirs.trim()]);
    }
    expect(await containersWith({ [LABEL_NODE]: config.nodeId })).toEqual([]);
    expect(backend.capabilities()).toEqual([]);
  });

  it("keeps idle terminal sessions on a clean stop and adopts them at the next start of the same node", async () => {
    const config = testConfig();
    const first = await createDockerBackend(config, createLogger({}, "error"));
    const sessionId = marker("sess");
    const term = (b: DockerBackend, command: string, extra: Record<string, unknown> = {}) =>
      capOf(b, "terminalExec").run({ session_id: sessionId, command, ...extra }, ctx()) as Promise<{
        created: boolean;
        stdout: string;
        lease_expires_unix_ms: number;
      }>;
    let second: DockerBackend | null = null;
    try {
      // Each command is a fresh login shell: its state lives in the session's ~/.profile.
      const made = await term(
        first,
        "mkdir deep && echo data > deep/f.txt && printf 'export KEPT=yes\\ncd ~/deep\\n' >> ~/.profile",
        {
          create_if_missing: true,
          lease_ttl_sec: 120,
        },
      );
      expect(made.created).toBe(true);
      expect(((await capOf(first, "pythonExec").run({ code: "print(1)" }, ctx())) as PythonResult).output).toBe("1\n");
      await first.close({ keepSessions: true });
      // Only the session container is left: the pool's python containers went.
      const left = await containersWith({ [LABEL_NODE]: config.nodeId });
      expect(left).toHaveLength(1);
      expect(await containersWith({ [LABEL_NODE]: config.nodeId, [LABEL_SESSION]: sessionId })).toEqual(left);

      second = await createDockerBackend(config, createLogger({}, "error"));
      const after = await term(second, 'echo "$PWD $KEPT $(cat f.txt)"', { lease_ttl_sec: 60 });
      expect(after).toMatchObject({ created: false, stdout: "/workspace/deep yes data\n" });
      // The adopted session's lease is the one this command set, not a guess.
      expect(after.lease_expires_unix_ms).toBeLessThanOrEqual(Date.now() + 60_000);
    } finally {
      await first.close();
      await second?.close();
    }
    expect(await containersWith({ [LABEL_NODE]: config.nodeId })).toEqual([]);
  });

  it("withholds a capability whose image is missing, with one line saying how to fix it", async () => {
    const { log, lines } = recordingLogger();
    const config = testConfig({ WORKER_PYTHON_EXEC_DOCKER_IMAGE: "onlyboxes/missing:0" });
    const backend = await createDockerBackend(config, log);
    try {
      expect(backend.capabilities().map((c) => c.name)).toEqual(["terminalExec", "terminalResource", "sessionFiles"]);
      const errors = lines.filter((l) => l.level === "error");
      expect(errors).toHaveLength(1);
      expect(errors[0]?.msg).toMatch(/image onlyboxes\/missing:0 not found.*build-images\.sh.*WORKER_PYTHON_EXEC_DOCKER_IMAGE/);
    } finally {
      await backend.close();
    }
  });
});
