import { randomBytes } from "node:crypto";
import type { Logger } from "../log.ts";
import type { AttachedStreams, ContainerClient, ContainerSpec, StreamName } from "./container-client.ts";
import type { ContainerTracker } from "./container-tracker.ts";
import { encodeShellRequest, MarkerScanner } from "./shell-server.ts";

/** Thrown when the session's container stopped while a command ran. */
export class SessionLostError extends Error {
  override readonly name = "SessionLostError";
}

interface Pending {
  stdoutDone: boolean;
  stderrDone: boolean;
  exitCode: number;
  resolve: (exitCode: number) => void;
  reject: (err: Error) => void;
}

/**
 * One long-running terminal container with the shell server as its main process. Serves
 * one command at a time (the caller keeps the busy flag); the filesystem lives as long as
 * the container.
 */
export class ShellSession {
  busy = true;
  leaseExpiresAt = 0;
  private pending: Pending | null = null;
  private output: ((stream: StreamName, data: Buffer) => void) | null = null;
  private readonly scanners: Record<StreamName, MarkerScanner>;
  private dead = false;

  private constructor(
    readonly sessionId: string,
    readonly containerId: string,
    private readonly io: AttachedStreams,
    private readonly log: Logger,
  ) {
    this.scanners = {
      stdout: this.scanner("stdout"),
      stderr: this.scanner("stderr"),
    };
  }

  /** Creates, attaches and starts the session container. */
  static async open(
    client: ContainerClient,
    tracker: ContainerTracker,
    spec: ContainerSpec,
    sessionId: string,
    log: Logger,
  ): Promise<ShellSession> {
    const id = await client.create(spec);
    tracker.add(id);
    try {
      let session: ShellSession | null = null;
      const io = await client.attach(id, (stream, data) => session?.scanners[stream].push(data));
      session = new ShellSession(sessionId, id, io, log.child({ container_id: id }));
      const s = session;
      void io.closed.then(() => s.onClosed());
      await client.start(id);
      return session;
    } catch (err) {
      await tracker.remove(id);
      throw err;
    }
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** Runs one command; output goes to `onOutput` as it arrives; answers the exit code. */
  run(command: string, onOutput: (stream: StreamName, data: Buffer) => void): Promise<number> {
    if (this.dead) return Promise.reject(new SessionLostError("the session's container is gone"));
    if (this.pending) return Promise.reject(new Error("a command is already running in this session"));
    const nonce = randomBytes(16).toString("hex");
    return new Promise<number>((resolve, reject) => {
      this.pending = { stdoutDone: false, stderrDone: false, exitCode: -1, resolve, reject };
      this.output = onOutput;
      this.scanners.stdout.begin(nonce);
      this.scanners.stderr.begin(nonce);
      this.io.write(encodeShellRequest(nonce, command));
    });
  }

  private scanner(stream: StreamName): MarkerScanner {
    return new MarkerScanner(
      (data) => this.output?.(stream, data),
      (trailer) => {
        const p = this.pending;
        if (!p) return;
        if (stream === "stdout") {
          p.stdoutDone = true;
          // The stdout trailer is ":<exit code>".
          const code = Number.parseInt(trailer.slice(1), 10);
          p.exitCode = Number.isFinite(code) ? code : -1;
        } else {
          p.stderrDone = true;
        }
        if (p.stdoutDone && p.stderrDone) {
          this.pending = null;
          this.output = null;
          p.resolve(p.exitCode);
        }
      },
    );
  }

  private onClosed(): void {
    this.dead = true;
    this.log.debug("session container stream closed", { session_id: this.sessionId });
    const p = this.pending;
    this.pending = null;
    this.output = null;
    p?.reject(new SessionLostError("the session's container stopped while the command ran; the session was closed"));
  }

  /** Drops the connection (the container itself is removed through the tracker). */
  detach(): void {
    this.dead = true;
    this.io.destroy();
  }
}
