/** The agent's outbound queue: frames leave in order, close ends after them, flushed waits for the reader. */
import { describe, expect, it } from "vitest";
import { Outbox } from "../../src/rpc/outbox.ts";

async function readAll<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

describe("Outbox", () => {
  it("hands frames over in order, those queued before close included, and drops later ones", async () => {
    const o = new Outbox<number>();
    o.send(1);
    o.send(2);
    const all = readAll(o);
    o.send(3);
    o.close();
    o.send(4);
    expect(await all).toEqual([1, 2, 3]);
  });

  it("says flushed once the reader has taken every frame sent so far", async () => {
    const o = new Outbox<string>();
    await expect(o.flushed()).resolves.toBeUndefined();
    o.send("a");
    o.send("b");
    let flushed = false;
    const f = o.flushed().then(() => {
      flushed = true;
    });
    const it = o[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ done: false, value: "a" });
    await Promise.resolve();
    expect(flushed).toBe(false);
    expect(await it.next()).toEqual({ done: false, value: "b" });
    await f;
    expect(flushed).toBe(true);
  });

  it("drops what is queued when the reader stops, and answers flushed for it", async () => {
    const o = new Outbox<string>();
    o.send("a");
    o.send("b");
    const it = o[Symbol.asyncIterator]();
    await it.next();
    const f = o.flushed();
    await it.return?.();
    await f;
    o.send("c");
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });
});
