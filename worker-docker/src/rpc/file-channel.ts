import { FILE_CHUNK_WINDOW } from "@onlyboxes/proto";
import { CommandFailure } from "../capabilities/types.ts";

/** One piece of a file as it travels in a FileChunk frame. */
export interface FilePiece {
  seq: number;
  data: Uint8Array;
  last: boolean;
  totalSize?: number;
  mimeType?: string;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new CommandFailure("canceled", "the command was canceled");
}

/** Where one side waits for the other: `wait` ends at the next `wake` or when `signal` aborts. */
class Wakeup {
  private waiting: (() => void) | null = null;

  wake(): void {
    this.waiting?.();
  }

  wait(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener("abort", done);
        this.waiting = null;
        resolve();
      };
      this.waiting = done;
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/**
 * The pieces of one command's upload, in the order the console sent them. A piece is
 * acknowledged when the consumer asks for the next one (it has written the previous), so
 * the console never has more than its window in flight and this queue never holds more.
 */
export class FileInbox {
  private readonly queue: FilePiece[] = [];
  private readonly wakeup = new Wakeup();
  private expected = 0;
  private broken: CommandFailure | null = null;

  constructor(private readonly ack: (seq: number) => void) {}

  /** Takes a piece from the wire; a gap in the sequence breaks the upload. */
  push(piece: FilePiece): void {
    if (this.broken) return;
    if (piece.seq !== this.expected) {
      this.broken = new CommandFailure("protocol_error", `file piece ${piece.seq} arrived, expected ${this.expected}`);
    } else {
      this.expected++;
      this.queue.push(piece);
    }
    this.wakeup.wake();
  }

  /** The upload's bytes, piece by piece, until the piece marked last; rejects on abort. */
  async *pieces(signal: AbortSignal): AsyncGenerator<Uint8Array> {
    for (;;) {
      const piece = await this.next(signal);
      if (piece.data.byteLength > 0) yield piece.data;
      this.ack(piece.seq);
      if (piece.last) return;
    }
  }

  private async next(signal: AbortSignal): Promise<FilePiece> {
    for (;;) {
      if (this.broken) throw this.broken;
      if (signal.aborted) throw abortReason(signal);
      const piece = this.queue.shift();
      if (piece) return piece;
      await this.wakeup.wait(signal);
    }
  }
}

/**
 * Sends the pieces of one command's download, at most `window` of them not yet
 * acknowledged by the console: a slow reader slows the file, it never piles up.
 */
export class FileOutbox {
  private nextSeq = 0;
  private acked = -1;
  private readonly wakeup = new Wakeup();

  constructor(
    private readonly send: (piece: FilePiece) => void,
    private readonly window = FILE_CHUNK_WINDOW,
  ) {}

  /** The console has consumed every piece up to `seq`. */
  onAck(seq: number): void {
    if (seq > this.acked) this.acked = seq;
    this.wakeup.wake();
  }

  /** Sends one piece once the window has room; rejects on abort. */
  async push(piece: Omit<FilePiece, "seq">, signal: AbortSignal): Promise<void> {
    while (this.nextSeq - this.acked - 1 >= this.window) {
      if (signal.aborted) throw abortReason(signal);
      await this.wakeup.wait(signal);
    }
    if (signal.aborted) throw abortReason(signal);
    this.send({ ...piece, seq: this.nextSeq++ });
  }
}
