/** What a framing says about each frame: its payload's length from its header, then the payload's parts. */
export interface Framing {
  /** The payload length the header announces. */
  header(header: Buffer): number;
  /** A part of the current payload as it arrives; `left` bytes of it are still to come. */
  payload(part: Buffer, left: number): void;
}

/**
 * Splits a byte stream of `header | payload` frames with headers of a fixed size. Payload
 * bytes are handed on as soon as they arrive, even when a frame spans several chunks, so
 * nothing larger than a header is ever held here, whatever the length of the stream.
 */
export class FrameSplitter {
  private readonly head: Buffer;
  private headFill = 0;
  private remaining = 0;
  private stopped = false;

  constructor(
    headerSize: number,
    private readonly framing: Framing,
  ) {
    this.head = Buffer.alloc(headerSize);
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.stopped) {
      if (this.remaining === 0) {
        const take = Math.min(this.head.length - this.headFill, chunk.length - offset);
        chunk.copy(this.head, this.headFill, offset, offset + take);
        this.headFill += take;
        offset += take;
        if (this.headFill < this.head.length) return;
        this.headFill = 0;
        this.remaining = this.framing.header(this.head);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      this.remaining -= take;
      this.framing.payload(chunk.subarray(offset, offset + take), this.remaining);
      offset += take;
    }
  }

  /** Whether the bytes so far end inside a frame (its header or its payload is incomplete). */
  get midFrame(): boolean {
    return this.headFill > 0 || this.remaining > 0;
  }

  /** Ignores every further byte (the framing saw its last frame, or one it refuses). */
  stop(): void {
    this.stopped = true;
    this.remaining = 0;
  }
}
