import type { ErrorCode } from "@onlyboxes/proto";
import type { Logger } from "../log.ts";

/** A failure a capability reports to the console; `code` (from the shared registry) travels in CommandError.code. */
export class CommandFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "CommandFailure";
  }
}

/** What a running command may use besides its payload. */
export interface CommandContext {
  commandId: string;
  /** Absolute wall-clock deadline (unix ms) set by the console. */
  deadlineUnixMs: number;
  /** Aborted on cancel frame, deadline, or worker shutdown; `signal.reason` is a CommandFailure. */
  signal: AbortSignal;
  /** Streams a piece of output to the console (only when the caller asked for streaming). */
  emitOutput?: (stream: "stdout" | "stderr", data: Uint8Array) => void;
  /** The pieces of a file the console uploads with this command, in order (sessionFiles). */
  fileIn?: (signal: AbortSignal) => AsyncIterable<Uint8Array>;
  /** Sends a piece of a file to the console, waiting while its window is full (sessionFiles). */
  sendFile?: (
    piece: { data: Uint8Array; last: boolean; totalSize?: number; mimeType?: string },
    signal: AbortSignal,
  ) => Promise<void>;
  log: Logger;
}

/**
 * One capability a worker serves. `run` gets the decoded JSON payload and returns the
 * JSON result, or throws a CommandFailure (any other throw becomes `worker_error`).
 */
export interface Capability {
  readonly name: string;
  readonly maxInflight: number;
  run(payload: unknown, ctx: CommandContext): Promise<unknown>;
  /** Releases everything the capability holds (containers, sessions). */
  close?(): Promise<void>;
}
