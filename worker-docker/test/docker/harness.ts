import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import type { ErrorCode } from "@onlyboxes/proto";
import { createDockerBackend, type DockerBackend } from "../../src/capabilities/docker-capabilities.ts";
import { type Capability, type CommandContext, CommandFailure } from "../../src/capabilities/types.ts";
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

export interface Started {
  backend: DockerBackend;
  config: DockerConfig;
  cap(name: "pythonExec" | "terminalExec" | "terminalResource"): Capability;
}

/** Starts a backend on the real engine and waits until it serves all three capabilities. */
export async function startBackend(env: Record<string, string> = {}): Promise<Started> {
  const config = testConfig(env);
  const backend = await createDockerBackend(config, testLog);
  const names = backend.capabilities().map((c) => c.name);
  if (names.length !== 3)
    throw new Error(`backend serves ${names.join(", ") || "nothing"}: is the engine up and are the images built?`);
  return {
    backend,
    config,
    cap: (name) => {
      const c = backend.capabilities().find((x) => x.name === name);
      if (!c) throw new Error(`${name} not served`);
      return c;
    },
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
export type {
  PythonExecResult as PythonResult,
  TerminalExecResult as TerminalResult,
  TerminalResourceResult as ResourceResult,
} from "@onlyboxes/proto";

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

/** Polls `check` until true or `timeoutMs` passes; answers the last value. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
