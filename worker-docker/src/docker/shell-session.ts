import { randomFillSync } from "node:crypto";
import type { Logger } from "../log.ts";
import type { AttachedStreams, ContainerClient, ContainerSpec, StreamName } from "./container-client.ts";
import type { ContainerTracker } from "./container-tracker.ts";
import { encodeShellRequest, MarkerScanner } from "./shell-server.ts";

/**
 * Random bytes drawn 4 KiB at a time: between two commands (caches cold) `randomBytes(16)`
 * took about 80 µs on the development VM, a slice of the pool and its hex about 20. The
 * pool lives only in this process's memory.
 */
const noncePool = Buffer.alloc(4096);
let noncePoolUsed = noncePool.length;

/** 128 random bits as hex, chosen per command and never shown to it. */
function commandNonce(): string {
  if (noncePoolUsed + 16 > noncePool.length) {
    randomFillSync(noncePool);
    noncePoolUsed = 0;
  }
  const nonce = noncePool.toString("hex", noncePoolUsed, noncePoolUsed + 16);
  noncePoolUsed += 16;
  return nonce;
}

/** Thrown when the session's container stopped while a command ran. */
export class SessionLostError extends Error {
  override readonly name = "SessionLostError";
}

/** Thrown when the container's output broke the shell server's framing (never the server's own doing). */
export class SessionProtocolError extends Error {
  override readonly name = "SessionProtocolError";
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
  /** Taken over from an earlier run of this worker: the lease its container keeps is not known here. */
  adopted = false;
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
    return tracker.create(spec, async (id) => {
      const session = await ShellSession.attach(client, id, sessionId, log);
      await client.start(id);
      return session;
    });
  }

  /** Attaches to the container's shell server: its output feeds the marker scanners. */
  private static async attach(client: ContainerClient, id: string, sessionId: string, log: Logger): Promise<ShellSession> {
    let session: ShellSession | null = null;
    const io = await client.attach(id, (stream, data) => session?.scanners[stream].push(data));
    const s = new ShellSession(sessionId, id, io, log.child({ container_id: id }));
    session = s;
    void io.closed.then(() => s.onClosed());
    return s;
  }

  /**
   * Attaches to a running session container an earlier run of this worker left behind
   * (its shell server waits for the next request on stdin, which stayed open).
   */
  static async adopt(
    client: ContainerClient,
    tracker: ContainerTracker,
    containerId: string,
    sessionId: string,
    log: Logger,
  ): Promise<ShellSession> {
    tracker.add(containerId);
    const s = await ShellSession.attach(client, containerId, sessionId, log);
    s.busy = false;
    s.adopted = true;
    return s;
  }

  get alive(): boolean {
    return !this.dead;
  }

  /**
   * Runs one command; output goes to `onOutput` as it arrives; answers the exit code. The
   * container ends itself if the command runs longer than `limitSec`, or if no further
   * command comes within `leaseSec` after it, whether or not this worker is still there.
   */
  run(
    command: string,
    limits: { limitSec: number; leaseSec: number },
    onOutput: (stream: StreamName, data: Buffer) => void,
  ): Promise<number> {
    if (this.dead) return Promise.reject(new SessionLostError("the session's container is gone"));
    if (this.pending) return Promise.reject(new Error("a command is already running in this session"));
    const nonce = commandNonce();
    return new Promise<number>((resolve, reject) => {
      this.pending = { stdoutDone: false, stderrDone: false, exitCode: -1, resolve, reject };
      this.output = onOutput;
      this.scanners.stdout.begin(nonce);
      this.scanners.stderr.begin(nonce);
      this.io.write(encodeShellRequest(nonce, command, limits.limitSec, limits.leaseSec));
    });
  }

  private scanner(stream: StreamName): MarkerScanner {
    return new MarkerScanner(
      (data) => this.output?.(stream, data),
      (trailer) => {
        const p = this.pending;
        if (!p) return;
        if (stream === "stdout") {
          // The stdout trailer is ":<exit code>", the stderr one empty.
          if (!/^:\d{1,3}$/.test(trailer)) {
            this.protocolError(`the stdout end marker carried "${trailer}" instead of an exit code`);
            return;
          }
          p.stdoutDone = true;
          p.exitCode = Number(trailer.slice(1));
        } else {
          if (trailer !== "") {
            this.protocolError("the stderr end marker carried text");
            return;
          }
          p.stderrDone = true;
        }
        if (p.stdoutDone && p.stderrDone) {
          this.pending = null;
          this.output = null;
          p.resolve(p.exitCode);
        }
      },
      (message) => this.protocolError(message),
    );
  }

  /** Fails the running command; the caller drops the session (its container cannot be trusted). */
  private protocolError(message: string): void {
    const p = this.pending;
    this.pending = null;
    this.output = null;
    this.dead = true;
    p?.reject(new SessionProtocolError(`the session's container broke the shell protocol: ${message}`));
  }

  private onClosed(): void {
    this.dead = true;
    this.log.debug("session container stream closed", { session_id: this.sessionId });
    const p = this.pending;
    this.pending = null;
    this.output = null;
    p?.reject(new SessionLostError("the session's container stopped while the command ran; the session was closed"));
  }

  /**
   * Drops the connection. The container itself is removed through the tracker, or, on a
   * clean stop that keeps the session, left running for the next start to adopt.
   */
  detach(): void {
    this.dead = true;
    this.io.destroy();
  }
}
