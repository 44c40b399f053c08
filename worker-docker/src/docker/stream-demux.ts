import type { OutputSink } from "./container-client.ts";
import { FrameSplitter } from "./frame-splitter.ts";

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
  private stream: "stdout" | "stderr" | null = null;
  private readonly frames: FrameSplitter;

  constructor(sink: OutputSink) {
    this.frames = new FrameSplitter(HEADER, {
      header: (header) => {
        const type = header[0];
        // 0 is stdin echoed back (never requested); anything unknown is dropped the same way.
        this.stream = type === 1 ? "stdout" : type === 2 ? "stderr" : null;
        return header.readUInt32BE(4);
      },
      payload: (part) => {
        if (this.stream) sink(this.stream, part);
      },
    });
  }

  push(chunk: Buffer): void {
    this.frames.push(chunk);
  }
}
