import { describe, expect, it } from "vitest";
import { encodeShellRequest, MAX_TRAILER, MarkerScanner } from "../../src/docker/shell-server.ts";

const NONCE = "0123456789abcdef0123456789abcdef";

function scanner() {
  const out: string[] = [];
  const ends: string[] = [];
  const errors: string[] = [];
  const s = new MarkerScanner(
    (d) => out.push(d.toString()),
    (t) => ends.push(t),
    (m) => errors.push(m),
  );
  s.begin(NONCE);
  return { s, out, ends, errors };
}

describe("MarkerScanner", () => {
  it("passes output on and ends at the marker with its trailer", () => {
    const { s, out, ends } = scanner();
    s.push(Buffer.from(`hello\n${NONCE}:3\nlater`));
    expect(out.join("")).toBe("hello\n");
    expect(ends).toEqual([":3"]);
  });

  it("finds a marker split over many chunks and holds back only a possible marker prefix", () => {
    const { s, out, ends } = scanner();
    const all = `abc${NONCE.slice(0, 5)}x${NONCE}:0\n`;
    for (const ch of all) s.push(Buffer.from(ch));
    expect(out.join("")).toBe(`abc${NONCE.slice(0, 5)}x`);
    expect(ends).toEqual([":0"]);
  });

  it("ignores output before begin and after the end", () => {
    const { s, out, ends } = scanner();
    s.push(Buffer.from(`${NONCE}\n`));
    s.push(Buffer.from("background job noise"));
    expect(out).toEqual([]);
    expect(ends).toEqual([""]);
  });

  it("answers a protocol error, not unbounded buffering, when text after the marker never ends", () => {
    const { s, ends, errors } = scanner();
    s.push(Buffer.from(`${NONCE}:`));
    for (let i = 0; i < 1000; i++) s.push(Buffer.alloc(64 * 1024, 0x39));
    expect(ends).toEqual([]);
    expect(errors).toEqual([`more than ${MAX_TRAILER} bytes followed an end marker`]);
  });

  it("accepts the longest genuine trailer", () => {
    const { s, ends, errors } = scanner();
    s.push(Buffer.from(`${NONCE}:255\n`));
    expect(errors).toEqual([]);
    expect(ends).toEqual([":255"]);
  });
});

describe("encodeShellRequest", () => {
  it("sends the nonce, line count, whole-second limit and lease, then the lines", () => {
    expect(encodeShellRequest("n1", "echo a\necho b", 2.1, 62)).toBe("n1 2 3 62\necho a\necho b\n");
  });
});
