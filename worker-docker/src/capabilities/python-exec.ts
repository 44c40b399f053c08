import { type PythonExecPayload, type PythonExecResult, pythonExecPayload } from "@onlyboxes/proto";
import type { ContainerClient } from "../docker/container-client.ts";
import type { ContainerTracker } from "../docker/container-tracker.ts";
import { engineMessage } from "../docker/docker-container-client.ts";
import { readPayload } from "../docker/payload-fields.ts";
import { BootstrapDecoder } from "../docker/python-bootstrap.ts";
import { PythonPool, type WarmContainer } from "../docker/python-pool.ts";
import { abortFailure, raceAbort, runSignal } from "../docker/run-signal.ts";
import { pythonSpec, SANDBOX_GRACE_MS } from "../docker/sandbox-spec.ts";
import type { TerminalSessions } from "../docker/terminal-sessions.ts";
import type { DockerConfig } from "../docker-config.ts";
import { encodeInputFiles } from "./python-input-files.ts";
import { PythonRunOutput } from "./python-run-output.ts";
import { PythonSessions } from "./python-session.ts";
import { type Capability, type CommandContext, CommandFailure } from "./types.ts";

/** How long a finished run's container may take to end and remove itself before it is removed by force. */
const RETIRE_GRACE_MS = 5_000;

/**
 * pythonExec: `{code, timeout_ms?}` → `{output, stderr, exit_code}`. Every run gets a fresh
 * container from a warm pool; the container is removed after the run. A non-zero exit is
 * a normal result; deadline and cancel remove the container and throw the failure.
 */
export class PythonExec implements Capability {
  readonly name = "pythonExec";
  readonly maxInflight: number;
  private readonly pool: PythonPool;
  private readonly inSessions: PythonSessions;

  constructor(
    client: ContainerClient,
    private readonly tracker: ContainerTracker,
    private readonly config: DockerConfig,
    log: CommandContext["log"],
    /** The worker's terminal sessions, where session-bound cells run (null while the terminal image is missing). */
    private readonly sessions: () => TerminalSessions | null = () => null,
  ) {
    this.inSessions = new PythonSessions(client, config);
    // The agent refuses runs beyond it (no_capacity) before they get here.
    this.maxInflight = config.maxInflight.pythonExec;
    this.pool = new PythonPool(
      client,
      tracker,
      () => pythonSpec(config),
      config.pythonPoolSize,
      log.child({ component: "python-pool" }),
      config.pythonPoolStarts,
    );
    this.pool.fill();
  }

  async run(payload: unknown, ctx: CommandContext): Promise<PythonExecResult> {
    const request = readPayload(pythonExecPayload, payload);
    if (request.session_id !== undefined) return this.runInSession({ ...request, session_id: request.session_id }, ctx);
    const { code, timeout_ms: timeoutMs } = request;
    const { signal, deadlineUnixMs } = runSignal(ctx, timeoutMs);
    let warm: WarmContainer;
    try {
      warm = await this.pool.take(signal);
    } catch (err) {
      if (signal.aborted) throw abortFailure(signal.reason);
      throw new CommandFailure("worker_error", `could not start the python container: ${engineMessage(err)}`);
    }
    const log = ctx.log.child({ container_id: warm.id });
    const out = new PythonRunOutput(this.config, ctx.emitOutput);
    type Outcome = { kind: "exit"; code: number } | { kind: "closed" } | { kind: "protocol_error"; message: string };
    const finished = new Promise<Outcome>((resolve) => {
      const decoder = new BootstrapDecoder((ev) => {
        out.take(ev);
        if (ev.kind === "exit" || ev.kind === "protocol_error") resolve(ev);
        // A status frame is the session kernel's; the bootstrap never sends one.
      });
      // The bootstrap frames the program's output on stdout; its own stderr only carries
      // its own failures (e.g. the image has no working python3), worth showing as stderr.
      warm.route((stream, data) => (stream === "stdout" ? decoder.push(data) : out.push("stderr", data)));
      void warm.io.closed.then(() => resolve({ kind: "closed" }));
    });
    const source = Buffer.from(code, "utf8");
    const files = encodeInputFiles(request.files);
    // The container's own PID 1 ends it a grace after the deadline, even without us.
    const budgetMs = Math.max(0, deadlineUnixMs - Date.now()) + SANDBOX_GRACE_MS;
    // Length-prefixed, so no half-close (EOF) is needed: some proxies in front of the
    // engine do not carry one. The bootstrap points stdin at /dev/null once it has read.
    warm.io.write(Buffer.concat([Buffer.from(`${source.length} ${budgetMs} ${files.length}\n`), source, files]));
    let exitCode: number;
    try {
      const outcome = await raceAbort(finished, signal);
      if (outcome.kind === "protocol_error") {
        throw new CommandFailure("sandbox_protocol_error", `the run was stopped: ${outcome.message}`);
      }
      if (outcome.kind === "exit") exitCode = outcome.code;
      else {
        // The container stopped without the bootstrap's exit frame: the bootstrap itself
        // died (OOM-killed: 137; no usable python3 in the image: 126/127 with a message).
        const state = await raceAbort(warm.exited, signal);
        // The bootstrap only exits 0 after sending its frame: 0 here means the engine
        // connection dropped and the output is lost; never report that as a clean run.
        if (state.exitCode === 0) throw new Error("the connection to the container closed before the run finished");
        exitCode = state.exitCode;
      }
    } catch (err) {
      log.info("pythonExec stopped", { reason: err instanceof CommandFailure ? err.code : String(err) });
      // Deadline, cancel or a broken frame: the container goes now, with everything it started.
      await this.discard(warm);
      if (err instanceof CommandFailure) throw err;
      throw new CommandFailure("worker_error", `python run failed: ${engineMessage(err)}`);
    }
    // The answer does not wait for the container to go. After its exit frame the bootstrap
    // exits, which ends the container, and the engine removes it (auto-remove); only a
    // container still there after a grace is removed by force.
    warm.io.destroy();
    void this.tracker.retire(warm.id, warm.exited, RETIRE_GRACE_MS);
    return out.result(exitCode);
  }

  /** A cell in a session's persistent interpreter (python-session.ts). */
  private runInSession(request: PythonExecPayload & { session_id: string }, ctx: CommandContext): Promise<PythonExecResult> {
    const sessions = this.sessions();
    if (sessions === null) {
      throw new CommandFailure("session_not_found", "this worker serves no sessions (its terminal image is missing)");
    }
    return this.inSessions.run(sessions, request, ctx);
  }

  private discard(w: WarmContainer): Promise<void> {
    w.io.destroy();
    return this.tracker.remove(w.id);
  }

  /** Warm containers ready for a run. */
  get poolReady(): number {
    return this.pool.ready;
  }

  /** Removes the idle pool and ends the sessions' kernels; runs in flight remove their own containers. */
  async close(): Promise<void> {
    this.inSessions.closeAll();
    await this.pool.close();
  }

  /** Forgets the pool and the sessions' kernels without engine calls (the engine went away). */
  forget(): void {
    this.inSessions.closeAll();
    this.pool.forgetAll();
  }
}
