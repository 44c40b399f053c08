import type { StreamName } from "./container-client.ts";

/** What one stream produced, decoded for JSON. */
export interface CollectedText {
  text: string;
  truncated: boolean;
}

/**
 * Keeps at most `limit` bytes of one output stream and drops the rest as it arrives, so
 * a program printing 50 MB costs `limit` bytes of memory, not 50 MB.
 */
export class BoundedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  /** Appends what still fits; answers the part kept (empty once the cap is reached). */
  append(data: Buffer): Buffer {
    const room = this.limit - this.size;
    if (data.length > room) this.truncated = true;
    if (room <= 0) return data.subarray(0, 0);
    // Copy: the engine's socket buffers are reused, and a subarray would pin a larger one.
    const kept = Buffer.from(data.subarray(0, Math.min(room, data.length)));
    this.chunks.push(kept);
    this.size += kept.length;
    return kept;
  }

  get byteLength(): number {
    return this.size;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }

  /** Lossy UTF-8: invalid bytes become U+FFFD, NUL stays (JSON escapes it), a cut character is dropped. */
  collect(): CollectedText {
    let buf = this.bytes();
    if (this.truncated) buf = buf.subarray(0, completeUtf8Length(buf));
    return { text: buf.toString("utf8"), truncated: this.truncated };
  }
}

/** Length of `buf` without a trailing, incomplete UTF-8 sequence (a character cut by the cap). */
export function completeUtf8Length(buf: Buffer): number {
  // A UTF-8 character is at most 4 bytes: only the last 3 can start an incomplete one.
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const b = buf[buf.length - back] ?? 0;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? buf.length - back : buf.length;
  }
  return buf.length;
}

/** Collects stdout and stderr of one run, each capped, forwarding kept bytes when streaming. */
export class OutputCollector {
  readonly stdout: BoundedBuffer;
  readonly stderr: BoundedBuffer;

  constructor(
    limit: number,
    private readonly emit?: (stream: StreamName, data: Uint8Array) => void,
  ) {
    this.stdout = new BoundedBuffer(limit);
    this.stderr = new BoundedBuffer(limit);
  }

  push(stream: StreamName, data: Buffer): void {
    const kept = (stream === "stdout" ? this.stdout : this.stderr).append(data);
    // Streaming stops at the cap too: the console never receives more than the result holds.
    if (kept.length > 0 && this.emit) this.emit(stream, new Uint8Array(kept));
  }
}
