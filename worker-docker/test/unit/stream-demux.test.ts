import { describe, expect, it } from "vitest";
import type { StreamName } from "../../src/docker/container-client.ts";
import { StreamDemuxer } from "../../src/docker/stream-demux.ts";

function frame(type: number, data: string): Buffer {
  const head = Buffer.alloc(8);
  head[0] = type;
  head.writeUInt32BE(Buffer.byteLength(data), 4);
  return Buffer.concat([head, Buffer.from(data)]);
}

function collect(): { got: Array<[StreamName, string]>; demux: StreamDemuxer } {
  const got: Array<[StreamName, string]> = [];
  return { got, demux: new StreamDemuxer((stream, data) => got.push([stream, data.toString()])) };
}

describe("StreamDemuxer", () => {
  it("splits stdout and stderr frames in one chunk", () => {
    const { got, demux } = collect();
    demux.push(Buffer.concat([frame(1, "out"), frame(2, "err"), frame(1, "more")]));
    expect(got).toEqual([
      ["stdout", "out"],
      ["stderr", "err"],
      ["stdout", "more"],
    ]);
  });

  it("decodes the same bytes fed one at a time, passing payload on as it arrives", () => {
    const { got, demux } = collect();
    const bytes = Buffer.concat([frame(2, "abc"), frame(1, "de")]);
    for (const b of bytes) demux.push(Buffer.from([b]));
    expect(got.map(([s, d]) => `${s}:${d}`).join(",")).toBe("stderr:a,stderr:b,stderr:c,stdout:d,stdout:e");
  });

  it("drops stdin echoes and unknown stream types without losing the frames after them", () => {
    const { got, demux } = collect();
    demux.push(Buffer.concat([frame(0, "stdin"), frame(9, "odd"), frame(1, "kept")]));
    expect(got).toEqual([["stdout", "kept"]]);
  });

  it("holds nothing but the header for a frame claiming 4 GiB", () => {
    const { got, demux } = collect();
    const head = Buffer.alloc(8);
    head[0] = 1;
    head.writeUInt32BE(0xffffffff, 4);
    demux.push(head);
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i < 8; i++) demux.push(chunk);
    // Every byte was handed on at once (the consumer caps it), none kept here.
    expect(got.reduce((n, [, d]) => n + d.length, 0)).toBe(8 * 1024 * 1024);
  });
});
