/**
 * The real worker process (bin/onlyboxes-worker.mjs, echo only, no Docker) against a small
 * console stand-in speaking the wire with the console's own envelope code: what an operator
 * sees on SIGTERM. An idle worker exits at once, not after its grace period; a running
 * command finishes (or, past the grace period, fails with the retryable worker_shutdown).
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type CommandResult, ConnectResponseSchema } from "@onlyboxes/proto";
import { afterEach, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import { decodeRequest, encodeResponse } from "../../../console-worker/src/rpc/envelope.ts";

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../bin/onlyboxes-worker.mjs");

interface Console {
  url: string;
  results: CommandResult[];
  /** True once the worker ended its stream with the end-stream envelope. */
  endedCleanly: () => boolean;
  connected: Promise<WebSocket>;
  dispatch(commandId: string, message: string): void;
}

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

async function startConsole(): Promise<Console> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  cleanup.push(() => server.close());
  await new Promise<void>((r) => server.once("listening", () => r()));
  const results: CommandResult[] = [];
  let ended = false;
  let socket: WebSocket | undefined;
  const send = (ws: WebSocket, payload: MessageInitShape<typeof ConnectResponseSchema>["payload"]) =>
    ws.send(encodeResponse(create(ConnectResponseSchema, { payload })));
  const connected = new Promise<WebSocket>((resolve) => {
    server.on("connection", (ws) => {
      ws.on("message", (data: Buffer) => {
        const req = decodeRequest(new Uint8Array(data));
        if (req === null) {
          ended = true;
          ws.close(1000);
          return;
        }
        const p = req.payload;
        if (p.case === "hello") {
          socket = ws;
          send(ws, { case: "connectAck", value: { sessionId: "s1", heartbeatIntervalSec: 5 } });
          resolve(ws);
        } else if (p.case === "heartbeat") send(ws, { case: "heartbeatAck", value: {} });
        else if (p.case === "commandResult") results.push(p.value);
      });
    });
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    results,
    endedCleanly: () => ended,
    connected,
    dispatch(commandId, message) {
      if (!socket) throw new Error("no worker connected");
      send(socket, {
        case: "commandDispatch",
        value: {
          commandId,
          capability: "echo",
          payloadJson: new TextEncoder().encode(JSON.stringify({ message })),
          deadlineUnixMs: BigInt(Date.now() + 600_000),
        },
      });
    },
  };
}

function startWorker(
  url: string,
  env: Record<string, string>,
): { child: ChildProcess; exited: Promise<number | null>; log: () => string } {
  const child = spawn(process.execPath, [BIN], {
    env: {
      PATH: process.env.PATH,
      WORKER_ID: "node-process-test",
      WORKER_SECRET: "obw_process_test",
      WORKER_CONSOLE_URL: url,
      WORKER_CONSOLE_INSECURE: "true",
      WORKER_DOCKER_ENABLED: "false",
      WORKER_LOG_LEVEL: "debug",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.on("data", (b: Buffer) => {
    log += b.toString();
  });
  cleanup.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, exited, log: () => log };
}

/** Sends SIGTERM and answers how long the process took to exit, and its exit code. */
async function terminate(w: ReturnType<typeof startWorker>): Promise<{ ms: number; code: number | null }> {
  const t0 = Date.now();
  w.child.kill("SIGTERM");
  const code = await w.exited;
  return { ms: Date.now() - t0, code };
}

async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Connects a worker with `env` to a fresh console, dispatches `command` (an echo) and waits
 * until it started when one is given, then sends SIGTERM; the worker must exit with 0.
 */
async function terminateConnected(env: Record<string, string>, command?: { id: string; message: string }) {
  const c = await startConsole();
  const w = startWorker(c.url, env);
  await c.connected;
  if (command) {
    c.dispatch(command.id, command.message);
    await until(() => w.log().includes('"msg":"command started"'), "the command to start");
  }
  const { ms, code } = await terminate(w);
  expect(code, w.log()).toBe(0);
  return { c, ms };
}

describe("worker process on SIGTERM", { timeout: 60_000 }, () => {
  it("exits at once when no command runs, far inside its 30 s grace period", async () => {
    const { c, ms } = await terminateConnected({ WORKER_SHUTDOWN_GRACE_SEC: "30" });
    expect(ms).toBeLessThan(3_000);
    expect(c.endedCleanly()).toBe(true);
  });

  it("lets a running command finish, delivers its result, then exits without waiting out the grace", async () => {
    const { c, ms } = await terminateConnected(
      { WORKER_SHUTDOWN_GRACE_SEC: "30", WORKER_ECHO_DELAY_MS: "1500" },
      { id: "cmd-1", message: "finish me" },
    );
    expect(c.results).toHaveLength(1);
    expect(c.results[0]?.error).toBeUndefined();
    expect(JSON.parse(new TextDecoder().decode(c.results[0]?.payloadJson))).toEqual({ message: "finish me" });
    expect(ms).toBeLessThan(1_500 + 3_000);
  });

  it("fails a command still running after the grace period with the retryable worker_shutdown", async () => {
    const { c, ms } = await terminateConnected(
      { WORKER_SHUTDOWN_GRACE_SEC: "1", WORKER_ECHO_DELAY_MS: "600000" },
      { id: "cmd-long", message: "never done" },
    );
    expect(c.results.map((r) => r.error?.code)).toEqual(["worker_shutdown"]);
    expect(c.results[0]?.commandId).toBe("cmd-long");
    expect(ms).toBeGreaterThanOrEqual(1_000);
    expect(ms).toBeLessThan(1_000 + 3_000);
    expect(c.endedCleanly()).toBe(true);
  });
});
