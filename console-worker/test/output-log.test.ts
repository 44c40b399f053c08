import { describe, expect, it } from "vitest";
import { MAX_LIVE_OUTPUT_BYTES, type OutputEvent, OutputLog } from "../src/lib/output-log.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("OutputLog", () => {
  it("replays what came before a subscriber joined, then the rest, each piece once and in order", async () => {
    const log = new OutputLog();
    log.append({ stream: "stdout", data: bytes("a") });
    const seen: OutputEvent[] = [];
    const followed = log.follow((e) => void seen.push(e));
    log.append({ stream: "stderr", data: bytes("b") });
    log.append({ stream: "stdout", data: bytes("c") });
    log.end();
    expect(await followed).toBe(true);
    expect(seen).toEqual([
      { stream: "stdout", data: "a" },
      { stream: "stderr", data: "b" },
      { stream: "stdout", data: "c" },
    ]);
    // Once ended: a late follower gets the whole replay and is released.
    const late: OutputEvent[] = [];
    expect(await log.follow((e) => void late.push(e))).toBe(true);
    expect(late).toEqual(seen);
  });

  it("keeps a character split across chunks whole", async () => {
    const log = new OutputLog();
    const e = bytes("é");
    log.append({ stream: "stdout", data: e.slice(0, 1) });
    log.append({ stream: "stdout", data: e.slice(1) });
    log.end();
    expect(
      log
        .snapshot()
        .map((x) => x.data)
        .join(""),
    ).toBe("é");
  });

  it("waits for a slow subscriber without reordering, and drops one whose delivery fails", async () => {
    const log = new OutputLog();
    const slow: string[] = [];
    const slowDone = log.follow(async (e) => {
      await new Promise((r) => setTimeout(r, 5));
      slow.push(e.data);
    });
    let calls = 0;
    const broken = log.follow(() => {
      calls += 1;
      throw new Error("client gone");
    });
    for (const d of ["1", "2", "3"]) log.append({ stream: "stdout", data: bytes(d) });
    expect(await broken).toBe(false);
    log.end();
    expect(await slowDone).toBe(true);
    expect(slow).toEqual(["1", "2", "3"]);
    expect(calls).toBe(1);
  });

  it("keeps at most MAX_LIVE_OUTPUT_BYTES per stream", () => {
    const log = new OutputLog();
    const big = new Uint8Array(MAX_LIVE_OUTPUT_BYTES - 2).fill(0x61);
    log.append({ stream: "stdout", data: big });
    log.append({ stream: "stdout", data: bytes("bcdef") });
    log.append({ stream: "stderr", data: bytes("err") });
    log.end();
    const out = log
      .snapshot()
      .filter((e) => e.stream === "stdout")
      .map((e) => e.data)
      .join("");
    expect(out.length).toBe(MAX_LIVE_OUTPUT_BYTES);
    expect(out.endsWith("abc")).toBe(true);
    expect(
      log
        .snapshot()
        .filter((e) => e.stream === "stderr")
        .map((e) => e.data),
    ).toEqual(["err"]);
  });
});
