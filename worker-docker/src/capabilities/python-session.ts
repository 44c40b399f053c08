import { EXEC_TIMEOUT_MS, type PythonExecPayload, type PythonExecResult } from "@onlyboxes/proto";
import type { ContainerClient } from "../docker/container-client.ts";
import { engineMessage } from "../docker/docker-container-client.ts";
import { PythonKernel } from "../docker/python-kernel.ts";
import { INTERRUPT_GRACE_MS } from "../docker/python-kernel-source.ts";
import { raceAbort, runSignal } from "../docker/run-signal.ts";
import { SANDBOX_GRACE_MS } from "../docker/sandbox-spec.ts";
import { SessionLostError, SessionProtocolError } from "../docker/shell-session.ts";
import type { TerminalSessions } from "../docker/terminal-sessions.ts";
import type { DockerConfig } from "../docker-config.ts";
import { encodeInputFiles } from "./python-input-files.ts";
import { PythonRunOutput } from "./python-run-output.ts";
import { type CommandContext, CommandFailure } from "./types.ts";

/**
 * pythonExec with a `session_id`: the code runs as the next cell of the session's
 * persistent interpreter (one PythonKernel per session container, started on first use).
 * The session's busy flag is shared with terminalExec, so concurrent use is session_busy.
 * A cell past its timeout is interrupted and answered normally (`timed_out`); a cancel or
 * the console's deadline ends the interpreter but keeps the session and its files.
 */
export class PythonSessions {
  /** Per session key: its container, the prepared python copy there, and the running kernel. */
  private readonly kernels = new Map<string, { containerId: string; path?: string; kernel?: PythonKernel }>();

  constructor(
    private readonly client: ContainerClient,
    private readonly config: DockerConfig,
  ) {}

  async run(
    sessions: TerminalSessions,
    request: PythonExecPayload & { session_id: string },
    ctx: CommandContext,
  ): Promise<PythonExecResult> {
    const ttlMs = sessions.leaseTtlMs(request.lease_ttl_sec);
    const budgetMs = request.timeout_ms ?? EXEC_TIMEOUT_MS.default;
    // The kernel answers a timed-out cell by itself; this signal only fires on cancel or
    // when the console's deadline (the budget plus its grace) passes without an answer.
    const { signal } = runSignal(ctx);
    const { session, created } = await sessions.acquire(request.session_id, request.create_if_missing === true, signal);
    this.forgetGone(sessions);
    let entry = this.kernels.get(request.session_id);
    if (entry === undefined || entry.containerId !== session.containerId) {
      entry?.kernel?.close();
      entry = { containerId: session.containerId };
      this.kernels.set(request.session_id, entry);
    }
    const slot = entry;
    const log = ctx.log.child({ session_id: request.session_id, container_id: session.containerId });
    let kernel: PythonKernel | undefined;
    try {
      sessions.extendLease(session, ttlMs);
      // The shell server ends an idle container at its lease: make that the end of this
      // cell at the latest plus a lease, so it never cuts a cell short.
      const keep = (budgetMs + INTERRUPT_GRACE_MS + ttlMs + SANDBOX_GRACE_MS) / 1000;
      await raceAbort(
        session.run(":", { limitSec: 30, leaseSec: keep }, () => {}),
        signal,
      );
      kernel = slot.kernel;
      const lost = kernel !== undefined && !kernel.alive;
      if (kernel === undefined || !kernel.alive) {
        kernel = await raceAbort(this.startKernel(slot, log), signal);
      }
      const out = new PythonRunOutput(this.config, ctx.emitOutput);
      const outcome = await raceAbort(
        kernel.run(
          { code: request.code, files: encodeInputFiles(request.files), budgetMs, reset: request.reset === true },
          (ev) => out.take(ev),
        ),
        signal,
      );
      if (outcome.kind === "protocol_error") {
        throw new SessionProtocolError(`the session's python kernel broke its framing: ${outcome.message}`);
      }
      if (outcome.kind === "closed") {
        out.push("stderr", Buffer.from("onlyboxes: the session's interpreter stopped; the next call starts a fresh one\n"));
      }
      const result: PythonExecResult = {
        ...out.result(outcome.kind === "exit" ? outcome.code : 137),
        session_id: request.session_id,
        created,
      };
      if (outcome.kind === "exit" && outcome.timedOut) result.timed_out = true;
      if (lost || outcome.kind === "closed" || (outcome.kind === "exit" && outcome.restarted)) {
        result.interpreter_restarted = true;
      }
      result.lease_expires_unix_ms = sessions.extendLease(session, ttlMs);
      return result;
    } catch (err) {
      log.info("python cell stopped", { reason: err instanceof CommandFailure ? err.code : String(err) });
      if (kernel !== undefined) {
        // Cancel or a lost answer: the interpreter's state is unknown; the next call starts afresh.
        kernel.close();
      }
      if (err instanceof CommandFailure) throw err;
      await sessions.drop(request.session_id);
      if (err instanceof SessionLostError) throw new CommandFailure("worker_error", err.message);
      if (err instanceof SessionProtocolError) throw new CommandFailure("sandbox_protocol_error", err.message);
      throw new CommandFailure("worker_error", `could not run the cell: ${engineMessage(err)}`);
    } finally {
      sessions.release(session);
    }
  }

  /**
   * Ends every kernel server (and its exec stream into the container); the session
   * containers stay, so a clean stop that keeps sessions leaves no socket behind and the
   * next worker starts a fresh interpreter in each.
   */
  closeAll(): void {
    for (const entry of this.kernels.values()) entry.kernel?.close();
    this.kernels.clear();
  }

  /** Forgets sessions this worker no longer holds (the map would otherwise grow forever). */
  private forgetGone(sessions: TerminalSessions): void {
    for (const [key, entry] of this.kernels) {
      if (sessions.find(key)?.containerId !== entry.containerId) {
        entry.kernel?.close();
        this.kernels.delete(key);
      }
    }
  }

  /** Starts the session's kernel, preparing the python copy once per container. */
  private async startKernel(
    slot: { containerId: string; path?: string; kernel?: PythonKernel },
    log: CommandContext["log"],
  ): Promise<PythonKernel> {
    slot.path ??= await PythonKernel.prepare(this.client, slot.containerId);
    slot.kernel = await PythonKernel.start(this.client, slot.containerId, slot.path, this.config.limits.user, log);
    return slot.kernel;
  }
}
