import type { Logger } from "../log.ts";
import type { AttachedStreams, ContainerClient } from "./container-client.ts";
import { BootstrapDecoder, type BootstrapEvent } from "./python-bootstrap.ts";
import { KERNEL_PREP, KERNEL_RUNNER, KERNEL_SERVER } from "./python-kernel-source.ts";

const ROOT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** How a cell ended: its exit code and status, the kernel server gone, or a broken frame. */
export type CellOutcome =
  | { kind: "exit"; code: number; timedOut: boolean; restarted: boolean }
  | { kind: "closed" }
  | { kind: "protocol_error"; message: string };

/** One cell for the kernel. */
export interface Cell {
  code: string;
  /** The input files as encodeInputFiles makes them (may be empty). */
  files: Buffer;
  /** Time the cell may run before it is interrupted. */
  budgetMs: number;
  reset: boolean;
}

/**
 * The persistent interpreter of one terminal session: the kernel server (python-kernel-
 * source.ts) started with `docker exec` in the session's container, its stdin and stdout
 * a channel only the worker and the server hold. One cell at a time (the session's busy
 * flag guarantees it); `run` answers when the server's exit frame arrives.
 */
export class PythonKernel {
  private onEvent: ((ev: BootstrapEvent) => void) | null = null;
  private decoder: BootstrapDecoder | null = null;
  private dead = false;
  /** Resolves when the kernel server's connection closed (it ended, or was closed). */
  readonly closed: Promise<void>;

  private constructor(
    private readonly io: AttachedStreams,
    private readonly log: Logger,
  ) {
    this.closed = io.closed;
    void io.closed.then(() => {
      this.dead = true;
      this.onEvent?.({ kind: "protocol_error", message: "" });
    });
  }

  /**
   * Prepares the execute-only python copy (as root, once per container: the copy lives in
   * the session's /tmp) and answers its path.
   */
  static async prepare(client: ContainerClient, containerId: string): Promise<string> {
    const prep: Buffer[] = [];
    const problems: Buffer[] = [];
    // A fixed PATH: root must not run a program the session could have put somewhere.
    const code = await client.exec(
      containerId,
      { cmd: ["/bin/sh", "-c", KERNEL_PREP], user: "0", env: [ROOT_PATH] },
      (stream, data) => (stream === "stdout" ? prep : problems).push(data),
    );
    const path = Buffer.concat(prep).toString("utf8").trim();
    if (code !== 0 || !/^\/tmp\/\.onlyboxes-kernel-[A-Za-z0-9]+\/python$/.test(path)) {
      throw new Error(
        `could not prepare the session's python (exit ${code}; is its /tmp full?): ${Buffer.concat(problems).toString("utf8").trim()}`,
      );
    }
    return path;
  }

  /** Starts the kernel server as the sandbox user from the prepared copy at `path`. */
  static async start(
    client: ContainerClient,
    containerId: string,
    path: string,
    user: string,
    log: Logger,
  ): Promise<PythonKernel> {
    let kernel: PythonKernel | null = null;
    const io = await client.execAttached(
      containerId,
      // Unbuffered: the interpreter's stdout is a pipe, where a plain print would wait for 8 KiB.
      { cmd: [path, "-c", KERNEL_SERVER, KERNEL_RUNNER], user, workingDir: "/workspace", env: ["PYTHONUNBUFFERED=1"] },
      (stream, data) => {
        if (stream === "stdout") kernel?.decoder?.push(data);
        // The server's own stderr carries only its failures (e.g. no python3 in the image).
        else kernel?.onEvent?.({ kind: "output", stream: "stderr", data });
      },
    );
    kernel = new PythonKernel(io, log);
    return kernel;
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** Runs one cell; events (output, figures, status) go to `onEvent` as they arrive. */
  run(cell: Cell, onEvent: (ev: BootstrapEvent) => void): Promise<CellOutcome> {
    if (this.dead) return Promise.resolve({ kind: "closed" });
    return new Promise<CellOutcome>((resolve) => {
      let timedOut = false;
      let restarted = false;
      const finish = (o: CellOutcome) => {
        this.onEvent = null;
        this.decoder = null;
        resolve(o);
      };
      this.onEvent = (ev) => {
        if (this.dead && ev.kind === "protocol_error" && ev.message === "") finish({ kind: "closed" });
        else if (ev.kind === "status") {
          timedOut ||= ev.timedOut;
          restarted ||= ev.restarted;
        } else if (ev.kind === "exit") finish({ kind: "exit", code: ev.code, timedOut, restarted });
        else if (ev.kind === "protocol_error") finish(ev);
        else onEvent(ev);
      };
      this.decoder = new BootstrapDecoder((ev) => this.onEvent?.(ev));
      const source = Buffer.from(cell.code, "utf8");
      this.io.write(
        Buffer.concat([
          Buffer.from(`${source.length} ${cell.files.length} ${Math.max(0, Math.round(cell.budgetMs))} ${cell.reset ? 1 : 0}\n`),
          source,
          cell.files,
        ]),
      );
    });
  }

  /** Ends the kernel server (its interpreter goes with it: the server kills it when stdin closes). */
  close(): void {
    this.dead = true;
    this.log.debug("python kernel closed");
    this.io.destroy();
  }
}
