/**
 * The pythonExec run against a container that breaks the bootstrap's framing (what a
 * forger would send if it could reach PID 1's stdout). The engine is replaced at its seam,
 * the ContainerClient: everything above it is the real code.
 */
import { describe, expect, it } from "vitest";
import { PythonExec } from "../../src/capabilities/python-exec.ts";
import { CommandFailure } from "../../src/capabilities/types.ts";
import type { AttachedStreams, ContainerClient, OutputSink } from "../../src/docker/container-client.ts";
import { ContainerTracker } from "../../src/docker/container-tracker.ts";
import { parseDockerConfig } from "../../src/docker-config.ts";
import { createLogger } from "../../src/log.ts";

const log = createLogger({}, "error");

/** A container whose stdout answers every program with `reply` (pushed in 1 MiB chunks). */
function forgingEngine(reply: (push: (chunk: Buffer) => void) => void) {
  const removed: string[] = [];
  let n = 0;
  const client: ContainerClient = {
    ping: async () => {},
    hasImage: async () => true,
    create: async () => `c${++n}`,
    attach: async (_id: string, sink: OutputSink): Promise<AttachedStreams> => {
      let end: () => void = () => {};
      const closed = new Promise<void>((r) => {
        end = r;
      });
      return {
        write: () => setImmediate(() => reply((chunk) => sink("stdout", chunk))),
        closed,
        destroy: () => end(),
      };
    },
    start: async () => {},
    wait: () => new Promise(() => {}),
    remove: async (id: string) => {
      removed.push(id);
    },
    exec: async () => 0,
    execStream: () => Promise.reject(new Error("not used by pythonExec")),
    execAttached: () => Promise.reject(new Error("no sessions in this test")),
    listDetailed: async () => [],
  };
  return { client, removed };
}

function exitHeader(length: number): Buffer {
  const h = Buffer.alloc(5);
  h[0] = 3;
  h.writeUInt32BE(length, 1);
  return h;
}

async function run(client: ContainerClient) {
  const config = parseDockerConfig({ WORKER_ID: "unit", WORKER_PYTHON_EXEC_POOL_SIZE: "0" });
  const py = new PythonExec(client, new ContainerTracker(client, log), config, log);
  const ctx = { commandId: "c", deadlineUnixMs: Date.now() + 30_000, signal: new AbortController().signal, log };
  try {
    return await py.run({ code: "print(1)" }, ctx);
  } catch (err) {
    return err;
  } finally {
    await py.close();
  }
}

describe("pythonExec against a forged frame", () => {
  it("stops at an exit frame claiming 4 GiB: sandbox_protocol_error, container removed, memory flat", async () => {
    const junk = Buffer.alloc(1024 * 1024, 0x37);
    const { client, removed } = forgingEngine((push) => {
      push(exitHeader(0xffffffff));
      for (let i = 0; i < 256; i++) push(junk);
    });
    global.gc?.();
    const before = process.memoryUsage().rss;
    const err = await run(client);
    const grown = (process.memoryUsage().rss - before) / 1024 / 1024;
    expect(err).toBeInstanceOf(CommandFailure);
    expect(err).toMatchObject({ code: "sandbox_protocol_error" });
    expect((err as Error).message).toContain("exit frame of 4294967295 bytes");
    expect(removed).toEqual(["c1"]);
    // 256 MiB pushed after the forged header; none of it is kept.
    expect(grown).toBeLessThan(32);
  });

  it("stops at a frame of unknown kind", async () => {
    const { client, removed } = forgingEngine((push) => push(Buffer.from([9, 0, 0, 0, 1, 0x41])));
    expect(await run(client)).toMatchObject({ code: "sandbox_protocol_error" });
    expect(removed).toEqual(["c1"]);
  });
});
