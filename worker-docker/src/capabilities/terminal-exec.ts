import { OutputCollector } from "../docker/output-collector.ts";
import { PayloadReader } from "../docker/payload-fields.ts";
import { raceAbort, runSignal } from "../docker/run-signal.ts";
import { SANDBOX_GRACE_MS } from "../docker/sandbox-spec.ts";
import { SessionLostError, SessionProtocolError } from "../docker/shell-session.ts";
import type { TerminalSessions } from "../docker/terminal-sessions.ts";
import type { DockerConfig } from "../docker-config.ts";
import { type Capability, type CommandContext, CommandFailure } from "./types.ts";

/** The terminalExec result, as the API returns it. */
export interface TerminalExecResult {
  session_id: string;
  created: boolean;
  stdout: string;
  stderr: string;
  exit_code: number;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  lease_expires_unix_ms: number;
}

const MAX_COMMAND_CHARS = 1024 * 1024;

/**
 * terminalExec: runs one command with `sh -lc` in the session's container, creating the
 * session when asked. Deadline and cancel remove the container and drop the session.
 */
export class TerminalExec implements Capability {
  readonly name = "terminalExec";
  readonly maxInflight: number;

  constructor(
    private readonly sessions: TerminalSessions,
    private readonly config: DockerConfig,
  ) {
    this.maxInflight = config.maxInflight.terminalExec;
  }

  async run(payload: unknown, ctx: CommandContext): Promise<TerminalExecResult> {
    const p = new PayloadReader(payload, this.name);
    const sessionId = p.string("session_id", { maxLength: 256 });
    const command = p.string("command", { maxLength: MAX_COMMAND_CHARS });
    if (command.includes("\0")) throw new CommandFailure("invalid_argument", "command must not contain NUL characters");
    const createIfMissing = p.optionalBool("create_if_missing", false);
    const leaseSec = p.optionalInt("lease_ttl_sec", 1, 365 * 86_400);
    const timeoutMs = p.optionalInt("timeout_ms", 1, 24 * 3600 * 1000);
    const ttlMs = this.sessions.leaseTtlMs(leaseSec);
    const { signal, deadlineUnixMs } = runSignal(ctx, timeoutMs);
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
      this.sessions.release(session);
    }
  }
}
