import { FrameSplitter } from "./frame-splitter.ts";

/** The first 8 bytes of every PNG file. */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** What a run's figure pipe produced, ready for the result. */
export interface CollectedImages {
  images: { mime_type: "image/png"; data_base64: string }[];
  /** True when a figure was left out because the budget was spent (or it was not a PNG). */
  truncated: boolean;
}

/**
 * Parses the figure pipe (`length:4 BE | PNG bytes` records, python-figures.ts) as its
 * bytes arrive and keeps whole PNGs up to `limit` bytes in all. The program can write to
 * the same pipe, so nothing is trusted: a record larger than the budget left is skipped
 * without being stored (memory never exceeds `limit` plus a 4-byte header), and a record
 * that does not start with the PNG signature is dropped. Both set `truncated`.
 */
export class ImageCollector {
  private readonly images: Buffer[] = [];
  private used = 0;
  /** The current record's bytes, or null when it is being skipped. */
  private current: Buffer[] | null = null;
  private truncated = false;
  private readonly frames = new FrameSplitter(4, {
    header: (header) => this.start(header.readUInt32BE(0)),
    payload: (part, left) => {
      // Copied: the engine's socket buffers are reused.
      this.current?.push(Buffer.from(part));
      if (left === 0) this.finish();
    },
  });

  constructor(private readonly limit: number) {}

  push(data: Buffer): void {
    this.frames.push(data);
  }

  /** Begins a record of `length` bytes, kept only if it fits the budget left. */
  private start(length: number): number {
    if (length > this.limit - this.used) {
      this.truncated = true;
      this.current = null;
    } else {
      this.current = [];
    }
    if (length === 0) this.finish();
    return length;
  }

  private finish(): void {
    const parts = this.current;
    this.current = null;
    if (parts === null) return;
    const png = Buffer.concat(parts);
    if (png.length < PNG_SIGNATURE.length || !png.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) {
      this.truncated = true;
      return;
    }
    this.images.push(png);
    this.used += png.length;
  }

  /** The whole PNGs received; a record cut off by the end of the run counts as truncated. */
  collect(): CollectedImages {
    return {
      images: this.images.map((png) => ({ mime_type: "image/png", data_base64: png.toString("base64") })),
      truncated: this.truncated || this.frames.midFrame,
    };
  }
}
