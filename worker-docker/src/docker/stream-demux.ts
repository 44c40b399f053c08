import type { OutputSink } from "./container-client.ts";

const HEADER = 8;

/**
 * Splits Docker's multiplexed attach/exec stream (non-TTY) into stdout and stderr.
 *
 * Each frame is an 8-byte header (stream type, 3 zero bytes, big-endian payload length)
 * followed by the payload. Payload bytes are handed on as soon as they arrive, even when a
 * frame spans several chunks, so nothing larger than a header is ever held here: 50 MB of
 * output costs no more memory than 5 bytes. The framing is the engine's, so nothing a
 * program prints can forge a switch between streams.
 */
export class StreamDemuxer {
  private readonly header = Buffer.alloc(HEADER);
  private headerFill = 0;
  private remaining = 0;
  private stream: "stdout" | "stderr" | null = null;

  constructor(private readonly sink: OutputSink) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining === 0) {
        const take = Math.min(HEADER - this.headerFill, chunk.length - offset);
        chunk.copy(this.header, this.headerFill, offset, offset + take);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < HEADER) return;
        this.headerFill = 0;
        const type = this.header[0];
        // 0 is stdin echoed back (never requested); anything unknown is dropped the same way.
        this.stream = type === 1 ? "stdout" : type === 2 ? "stderr" : null;
        this.remaining = this.header.readUInt32BE(4);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      if (this.stream) this.sink(this.stream, chunk.subarray(offset, offset + take));
      this.remaining -= take;
      offset += take;
    }
  }
}
