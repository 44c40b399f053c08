import { describe, expect, it } from "vitest";
import { BootstrapDecoder, type BootstrapEvent, MAX_OUTPUT_FRAME } from "../../src/docker/python-bootstrap.ts";

function frame(kind: number, data: Buffer | string, claimed?: number): Buffer {
  const body = Buffer.from(data);
  const head = Buffer.alloc(5);
  head[0] = kind;
  head.writeUInt32BE(claimed ?? body.length, 1);
  return Buffer.concat([head, body]);
}

function decode(...chunks: Buffer[]): BootstrapEvent[] {
  const events: BootstrapEvent[] = [];
  const d = new BootstrapDecoder((e) => events.push(e));
  for (const c of chunks) d.push(c);
  return events;
}

const summary = (events: BootstrapEvent[]) =>
  events.map((e) =>
    e.kind === "output"
      ? `${e.stream}:${e.data.toString()}`
      : e.kind === "exit"
        ? `exit:${e.code}`
        : e.kind === "image"
          ? `image:${e.data.toString()}`
          : e.kind === "status"
            ? `status:${e.timedOut ? "T" : ""}${e.restarted ? "R" : ""}`
            : `error:${e.message}`,
  );

describe("BootstrapDecoder", () => {
  it("passes figure bytes and a status on before the exit code", () => {
    expect(summary(decode(Buffer.concat([frame(4, "\x89PNG"), frame(5, "TR"), frame(1, "x"), frame(3, "1")])))).toEqual([
      "image:\x89PNG",
      "status:TR",
      "stdout:x",
      "exit:1",
    ]);
  });

  it.each([
    ["a figure frame above 64 KiB", frame(4, "", MAX_OUTPUT_FRAME + 1), "a figure frame of 65537 bytes (at most 65536)"],
    ["a status frame of 3 bytes", frame(5, "TRT"), "a status frame of 3 bytes (1 to 2)"],
    ["a status frame with another letter", frame(5, "X"), "a status frame that is not T, R or TR"],
    ["an empty status frame", frame(5, ""), "a status frame of 0 bytes (1 to 2)"],
  ])("refuses %s", (_what, bytes, message) => {
    expect(summary(decode(bytes, frame(3, "0")))).toEqual([`error:the sandbox sent ${message}`]);
  });

  it("decodes output frames and the exit code", () => {
    expect(summary(decode(Buffer.concat([frame(1, "hi\n"), frame(2, "oops"), frame(3, "42")])))).toEqual([
      "stdout:hi\n",
      "stderr:oops",
      "exit:42",
    ]);
  });

  it("decodes the same bytes split anywhere", () => {
    const all = Buffer.concat([frame(1, "abc"), frame(3, "137")]);
    for (let cut = 1; cut < all.length; cut++) {
      const text = summary(decode(all.subarray(0, cut), all.subarray(cut)));
      expect(text.filter((t) => t.startsWith("exit"))).toEqual(["exit:137"]);
      expect(
        text
          .filter((t) => t.startsWith("stdout"))
          .join("")
          .replaceAll("stdout:", ""),
      ).toBe("abc");
    }
  });

  it("ends with a protocol error on an exit frame claiming 4 GiB, keeping nothing of what follows", () => {
    const events: BootstrapEvent[] = [];
    const d = new BootstrapDecoder((e) => events.push(e));
    d.push(frame(3, "", 0xffffffff));
    const junk = Buffer.alloc(1024 * 1024, 0x31);
    for (let i = 0; i < 64; i++) d.push(junk);
    expect(summary(events)).toEqual(["error:the sandbox sent an exit frame of 4294967295 bytes (1 to 3)"]);
  });

  it.each([
    ["an empty exit frame", frame(3, "")],
    ["an exit frame of 4 digits", frame(3, "1000")],
    ["an exit code above 255", frame(3, "256")],
    ["an exit frame that is not digits", frame(3, "-1")],
    ["an output frame above 64 KiB", frame(1, "", MAX_OUTPUT_FRAME + 1)],
    ["an unknown kind", frame(7, "x")],
    ["kind 0", frame(0, "x")],
  ])("answers %s with one protocol error and ignores the rest", (_, bad) => {
    const events = decode(Buffer.concat([frame(1, "before"), bad, frame(1, "after"), frame(3, "0")]));
    expect(events[0]).toEqual({ kind: "output", stream: "stdout", data: Buffer.from("before") });
    expect(events.slice(1).map((e) => e.kind)).toEqual(["protocol_error"]);
  });

  it("accepts an output frame of exactly 64 KiB", () => {
    const events = decode(Buffer.concat([frame(2, Buffer.alloc(MAX_OUTPUT_FRAME, 0x62)), frame(3, "0")]));
    expect(events.at(-1)).toEqual({ kind: "exit", code: 0 });
  });

  it("ignores anything after the exit frame", () => {
    expect(summary(decode(Buffer.concat([frame(3, "0"), frame(1, "late"), Buffer.from("garbage")])))).toEqual(["exit:0"]);
  });
});
