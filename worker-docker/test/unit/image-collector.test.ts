import { describe, expect, it } from "vitest";
import { ImageCollector, PNG_SIGNATURE } from "../../src/docker/image-collector.ts";

function record(body: Buffer, claimed?: number): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(claimed ?? body.length, 0);
  return Buffer.concat([head, body]);
}

const png = (n: number) => Buffer.concat([PNG_SIGNATURE, Buffer.alloc(n, 7)]);

describe("ImageCollector", () => {
  it("keeps whole PNGs in order, however the bytes are split", () => {
    const a = png(10);
    const b = png(3000);
    const all = Buffer.concat([record(a), record(b)]);
    for (const cut of [1, 3, 4, 5, 13, 22, all.length - 1]) {
      const c = new ImageCollector(1 << 20);
      c.push(all.subarray(0, cut));
      c.push(all.subarray(cut));
      const got = c.collect();
      expect(got.truncated).toBe(false);
      expect(got.images.map((i) => Buffer.from(i.data_base64, "base64"))).toEqual([a, b]);
      expect(got.images.every((i) => i.mime_type === "image/png")).toBe(true);
    }
  });

  it("skips a record above the budget left without storing it, and keeps later ones that fit", () => {
    const c = new ImageCollector(100);
    const small = png(20);
    c.push(record(png(200)));
    c.push(record(small));
    const got = c.collect();
    expect(got.truncated).toBe(true);
    expect(got.images.map((i) => Buffer.from(i.data_base64, "base64"))).toEqual([small]);
  });

  it("stays bounded when a record claims 4 GiB", () => {
    const c = new ImageCollector(1024);
    c.push(record(Buffer.alloc(0), 0xffffffff));
    const junk = Buffer.alloc(1 << 20, 1);
    for (let i = 0; i < 32; i++) c.push(junk);
    expect(c.collect()).toEqual({ images: [], truncated: true });
  });

  it("drops a record that is not a PNG", () => {
    const c = new ImageCollector(1024);
    c.push(record(Buffer.from("GIF89a not a png")));
    expect(c.collect()).toEqual({ images: [], truncated: true });
  });

  it("counts a record cut off by the end of the run as truncated", () => {
    const c = new ImageCollector(1024);
    c.push(record(png(50)).subarray(0, 30));
    expect(c.collect()).toEqual({ images: [], truncated: true });
  });

  it("answers no images and no truncation for an empty pipe", () => {
    expect(new ImageCollector(1024).collect()).toEqual({ images: [], truncated: false });
  });
});
