import { type TerminalExecResult, terminalExecPayload } from "@onlyboxes/proto";
import { OutputCollector } from "../docker/output-collector.ts";
import { readPayload } from "../docker/payload-fields.ts";
import { raceAbort, runSignal } from "../docker/run-signal.ts";
import { SANDBOX_GRACE_MS } from "../docker/sandbox-spec.ts";
import { SessionLostError, SessionProtocolError } from "../docker/shell-session.ts";
import { SessionCapability } from "./session-capability.ts";
import { type CommandContext, CommandFailure } from "./types.ts";

/**
 * terminalExec: runs one command with `sh -lc` in the session's container, creating the
 * session when asked. Deadline and cancel remove the container and drop the session.
 */
export class TerminalExec extends SessionCapability {
  readonly name = "terminalExec";

  async run(payload: unknown, ctx: CommandContext): Promise<TerminalExecResult> {
    const {
      session_id: sessionId,
      command,
      create_if_missing: createIfMissing = false,
      lease_ttl_sec: leaseSec,
      timeout_ms: timeoutMs,
    } = readPayload(terminalExecPayload, payload);
    // The contract bounds any worker's lease; this worker clamps to its configuration.
    const ttlMs = this.sessions.leaseTtlMs(leaseSec);
    const { signal, deadlineUnixMs, dispose } = runSignal(ctx, timeoutMs);
    const { session, created } = await this.sessions.acquire(sessionId, createIfMissing, signal);
    const log = ctx.log.child({ session_id: sessionId, container_id: session.containerId });
    try {
      this.sessions.extendLease(session, ttlMs);
      const out = new OutputCollector(this.config.outputLimitBytes, ctx.emitOutput);
      // The container ends itself a grace after the deadline, or after the lease once idle,
      // even when this worker is gone.
      const limits = {
        limitSec: (Math.max(0, deadlineUnixMs - Date.now()) + SANDBOX_GRACE_MS) / 1000,
        leaseSec: (Math.max(ttlMs, session.leaseExpiresAt - Date.now()) + SANDBOX_GRACE_MS) / 1000,
      };
      const exitCode = await raceAbort(
        session.run(command, limits, (stream, data) => out.push(stream, data)),
        signal,
      );
      const stdout = out.stdout.collect();
      const stderr = out.stderr.collect();
      return {
        session_id: sessionId,
        created,
        stdout: stdout.text,
        stderr: stderr.text,
        exit_code: exitCode,
        stdout_truncated: stdout.truncated,
        stderr_truncated: stderr.truncated,
        // Counted from the end of the command: an idle session lives a full lease.
        lease_expires_unix_ms: this.sessions.extendLease(session, ttlMs),
      };
    } catch (err) {
      // Timeout, cancel or a lost container: the session cannot be trusted any more.
      log.info("terminal command stopped; dropping the session", {
        reason: err instanceof CommandFailure ? err.code : String(err),
      });
      await this.sessions.drop(sessionId);
      if (err instanceof CommandFailure) throw err;
      if (err instanceof SessionLostError) throw new CommandFailure("worker_error", err.message);
      if (err instanceof SessionProtocolError) throw new CommandFailure("sandbox_protocol_error", err.message);
      throw err;
    } finally {
      dispose();
      this.sessions.release(session);
    }
  }
}
