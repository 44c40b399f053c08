import { type PythonExecResult, pythonExecRequest } from "@onlyboxes/proto";
import type { ContainerClient } from "../docker/container-client.ts";
import type { ContainerTracker } from "../docker/container-tracker.ts";
import { engineMessage } from "../docker/docker-container-client.ts";
import { OutputCollector } from "../docker/output-collector.ts";
import { readPayload } from "../docker/payload-fields.ts";
import { BootstrapDecoder } from "../docker/python-bootstrap.ts";
import { PythonPool, type WarmContainer } from "../docker/python-pool.ts";
import { raceAbort, runSignal } from "../docker/run-signal.ts";
import { pythonSpec } from "../docker/sandbox-spec.ts";
import { Semaphore } from "../docker/semaphore.ts";
import type { DockerConfig } from "../docker-config.ts";
import { type Capability, type CommandContext, CommandFailure } from "./types.ts";

/**
 * pythonExec: `{code, timeout_ms?}` → `{output, stderr, exit_code}`. Every run gets a fresh
 * container from a warm pool; the container is removed after the run. A non-zero exit is
 * a normal result; deadline and cancel remove the container and throw the failure.
 */
export class PythonExec implements Capability {
  readonly name = "pythonExec";
  readonly maxInflight: number;
  private readonly pool: PythonPool;
  private readonly slots: Semaphore;

  constructor(
    private readonly client: ContainerClient,
    private readonly tracker: ContainerTracker,
    private readonly config: DockerConfig,
    log: CommandContext["log"],
  ) {
    this.maxInflight = config.maxInflight.pythonExec;
    // Beyond max_inflight runs queue here: the agent refuses them before, direct callers wait.
    this.slots = new Semaphore(this.maxInflight);
    this.pool = new PythonPool(
      client,
      tracker,
      () => pythonSpec(config),
      config.pythonPoolSize,
      log.child({ component: "python-pool" }),
    );
    this.pool.fill();
  }

  async run(payload: unknown, ctx: CommandContext): Promise<PythonExecResult> {
    const { code, timeout_ms: timeoutMs } = readPayload(pythonExecRequest, payload);
    const rs = runSignal(ctx, timeoutMs);
    try {
      const release = await this.slots.acquire(rs.signal);
      try {
        return await this.runOnce(code, ctx, rs.signal);
      } finally {
        release();
      }
    } finally {
      rs.dispose();
    }
  }

  private async runOnce(code: string, ctx: CommandContext, signal: AbortSignal): Promise<PythonExecResult> {
    let warm: WarmContainer;
    try {
      warm = await this.pool.take(signal);
    } catch (err) {
      if (err instanceof CommandFailure) throw err;
      throw new CommandFailure("worker_error", `could not start the python container: ${engineMessage(err)}`);
    }
    const log = ctx.log.child({ container_id: warm.id });
    const out = new OutputCollector(this.config.outputLimitBytes, ctx.emitOutput);
    let exitCode: number | null = null;
    const finished = new Promise<void>((resolve) => {
      const decoder = new BootstrapDecoder((ev) => {
        if (ev.kind === "output") out.push(ev.stream, ev.data);
        else {
          exitCode = ev.code;
          resolve();
        }
      });
      // The bootstrap frames the program's output on stdout; its own stderr only carries
      // its own failures (e.g. the image has no working python3), worth showing as stderr.
      warm.route((stream, data) => (stream === "stdout" ? decoder.push(data) : out.push("stderr", data)));
      void warm.io.closed.then(() => resolve());
    });
    const source = Buffer.from(code, "utf8");
    // Length-prefixed, so no half-close (EOF) is needed: some proxies in front of the
    // engine do not carry one. The bootstrap points stdin at /dev/null once it has read.
    warm.io.write(Buffer.concat([Buffer.from(`${source.length}\n`), source]));
    try {
      await raceAbort(finished, signal);
      if (exitCode === null) {
        // The container stopped without the bootstrap's exit frame: the bootstrap itself
        // died (OOM-killed: 137; no usable python3 in the image: 126/127 with a message).
        const state = await raceAbort(this.client.wait(warm.id), signal);
        // The bootstrap only exits 0 after sending its frame: 0 here means the engine
        // connection dropped and the output is lost; never report that as a clean run.
        if (state.exitCode === 0) throw new Error("the connection to the container closed before the run finished");
        exitCode = state.exitCode;
      }
    } catch (err) {
      log.info("pythonExec stopped", { reason: err instanceof CommandFailure ? err.code : String(err) });
      // Deadline or cancel: the container goes now, with everything it started.
      await this.discard(warm);
      if (err instanceof CommandFailure) throw err;
      throw new CommandFailure("worker_error", `python run failed: ${engineMessage(err)}`);
    }
    // The answer does not wait for the removal (the engine takes 50–150 ms for it).
    void this.discard(warm);
    const stdout = out.stdout.collect();
    const stderr = out.stderr.collect();
    const result: PythonExecResult = { output: stdout.text, stderr: stderr.text, exit_code: exitCode };
    if (stdout.truncated) result.output_truncated = true;
    if (stderr.truncated) result.stderr_truncated = true;
    return result;
  }

  private discard(w: WarmContainer): Promise<void> {
    w.io.destroy();
    return this.tracker.remove(w.id);
  }

  /** Removes the idle pool; runs in flight remove their own containers. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Forgets the pool without engine calls (the engine went away). */
  forget(): void {
    this.pool.forgetAll();
  }
}
