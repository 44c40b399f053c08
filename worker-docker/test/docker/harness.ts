import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import type { ErrorCode, PythonExecResult, TerminalExecResult, TerminalResourceResult } from "@onlyboxes/proto";
import { afterAll, beforeAll, expect } from "vitest";
import { createDockerBackend, type DockerBackend } from "../../src/capabilities/docker-capabilities.ts";
import { type Capability, type CommandContext, CommandFailure } from "../../src/capabilities/types.ts";
import { LABEL_MANAGED, LABEL_NODE } from "../../src/docker/container-client.ts";
import { type DockerConfig, parseDockerConfig } from "../../src/docker-config.ts";
import { createLogger } from "../../src/log.ts";

const execFileAsync = promisify(execFile);

/** A unique marker, also used as a node id so parallel suites never see each other's containers. */
export function marker(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString("hex")}`;
}

/** Test logger: quiet unless TEST_LOG_LEVEL asks for more. */
export const testLog = createLogger(
  { component: "test" },
  (process.env.TEST_LOG_LEVEL as "debug" | "info" | "warn" | "error" | undefined) ?? "error",
);

/** A config for a test node: defaults plus `env`, with a fresh node id. */
export function testConfig(env: Record<string, string> = {}): DockerConfig {
  return parseDockerConfig({ WORKER_ID: marker("test-node"), ...env });
}

/** How one capability run is called: see `ctx`. */
export type RunOptions = Parameters<typeof ctx>[0];

export interface Started {
  backend: DockerBackend;
  config: DockerConfig;
  cap(name: "pythonExec" | "terminalExec" | "terminalResource"): Capability;
  /** Runs pythonExec on `code`, with any other payload fields in `extra`. */
  python(code: string, opts?: RunOptions, extra?: Record<string, unknown>): Promise<PythonResult>;
  /** Runs terminalExec with `payload` as it is. */
  terminal(payload: Record<string, unknown>, opts?: RunOptions): Promise<TerminalResult>;
  /** Runs `command` in session `sessionId` (a new one by default), creating it when missing. */
  shell(command: string, sessionId?: string, opts?: RunOptions): Promise<TerminalResult>;
  /** Runs terminalResource with `payload` as it is. */
  resource(payload: Record<string, unknown>, opts?: RunOptions): Promise<ResourceResult>;
}

/** The typed runners of `Started` over the capability lookup `cap`. */
function runners(cap: Started["cap"]): Pick<Started, "python" | "terminal" | "shell" | "resource"> {
  return {
    python: (code, opts, extra = {}) => cap("pythonExec").run({ code, ...extra }, ctx(opts)) as Promise<PythonResult>,
    terminal: (payload, opts) => cap("terminalExec").run(payload, ctx(opts)) as Promise<TerminalResult>,
    shell: (command, sessionId = marker("sess"), opts = {}) =>
      cap("terminalExec").run({ session_id: sessionId, command, create_if_missing: true }, ctx(opts)) as Promise<TerminalResult>,
    resource: (payload, opts) => cap("terminalResource").run(payload, ctx(opts)) as Promise<ResourceResult>,
  };
}

/** The Docker capabilities a backend serves once the engine is up and every image is built. */
export const DOCKER_CAPABILITIES = ["pythonExec", "terminalExec", "terminalResource", "sessionFiles"];

/** Starts a backend on the real engine and checks it serves every Docker capability. */
export async function startBackend(env: Record<string, string> = {}): Promise<Started> {
  const config = testConfig(env);
  const backend = await createDockerBackend(config, testLog);
  const names = backend.capabilities().map((c) => c.name);
  if (names.length !== DOCKER_CAPABILITIES.length)
    throw new Error(`backend serves ${names.join(", ") || "nothing"}: is the engine up and are the images built?`);
  const cap: Started["cap"] = (name) => {
    const c = backend.capabilities().find((x) => x.name === name);
    if (!c) throw new Error(`${name} not served`);
    return c;
  };
  return { backend, config, cap, ...runners(cap) };
}

/** Closes `started` and checks that no container of its node is left (other suites may share the engine). */
export async function closeAndCheckClean(started: Started): Promise<void> {
  await started.backend.close();
  expect(await containersWith({ [LABEL_MANAGED]: "true", [LABEL_NODE]: started.config.nodeId })).toEqual([]);
}

/**
 * One backend for the calling test file: started before its tests, closed after them with a
 * check that it left no container. The answer is usable inside hooks and tests only.
 */
export function useBackend(env: Record<string, string> = {}): Started {
  let started: Started | undefined;
  const current = (): Started => {
    if (!started) throw new Error("the backend starts in beforeAll: use it inside a hook or a test");
    return started;
  };
  beforeAll(async () => {
    started = await startBackend(env);
  });
  afterAll(async () => {
    if (started) await closeAndCheckClean(started);
  });
  const cap: Started["cap"] = (name) => current().cap(name);
  return {
    get backend() {
      return current().backend;
    },
    get config() {
      return current().config;
    },
    cap,
    ...runners(cap),
  };
}

/** A command context like the agent's: deadline `timeoutMs` from now, optional streaming and abort. */
export function ctx(
  opts: { timeoutMs?: number; signal?: AbortSignal; emit?: CommandContext["emitOutput"] } = {},
): CommandContext {
  return {
    commandId: marker("cmd"),
    deadlineUnixMs: Date.now() + (opts.timeoutMs ?? 60_000),
    signal: opts.signal ?? new AbortController().signal,
    emitOutput: opts.emit,
    log: testLog,
  };
}

// The results as the shared contracts declare them.
export type PythonResult = PythonExecResult;
export type TerminalResult = TerminalExecResult;
export type ResourceResult = TerminalResourceResult;

/** Runs a capability and answers its failure code instead of throwing (or null on success). */
export async function failureOf(p: Promise<unknown>): Promise<{ code: ErrorCode; message: string } | null> {
  try {
    await p;
    return null;
  } catch (err) {
    if (err instanceof CommandFailure) return { code: err.code, message: err.message };
    throw err;
  }
}

/** Ids of containers carrying every given label (running or not). */
export async function containersWith(labels: Record<string, string>): Promise<string[]> {
  const args = ["ps", "-aq", "--no-trunc"];
  for (const [k, v] of Object.entries(labels)) args.push("--filter", `label=${k}=${v}`);
  const { stdout } = await execFileAsync("docker", args);
  return stdout.split("\n").filter((l) => l.trim() !== "");
}

/** Host processes whose command line contains `text` (container processes are visible on the host). */
export async function hostProcessesWith(text: string): Promise<string[]> {
  const { stdout } = await execFileAsync("ps", ["-eo", "pid=,args="]);
  return stdout.split("\n").filter((l) => l.includes(text) && !l.includes("ps -eo"));
}

/** Waits until no host process carries `tag` in its command line; false when one is still there after `timeoutMs`. */
export function noHostProcessWith(tag: string, timeoutMs: number): Promise<boolean> {
  return eventually(async () => (await hostProcessesWith(tag)).length === 0, timeoutMs);
}

/** Polls `check` until true or `timeoutMs` passes; answers the last value. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
