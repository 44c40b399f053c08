import { describe, expect, it } from "vitest";
import { FileInbox, FileOutbox, type FilePiece } from "../../src/rpc/file-channel.ts";

const piece = (seq: number, text: string, last = false): FilePiece => ({
  seq,
  data: new TextEncoder().encode(text),
  last,
});

/** Whether `p` has settled after the microtasks queued so far. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe("FileInbox", () => {
  it("yields an upload's pieces in order, waiting for late ones, and acks each once consumed", async () => {
    const acks: number[] = [];
    const inbox = new FileInbox((seq) => acks.push(seq));
    inbox.push(piece(0, "ab"));
    const got: string[] = [];
    const reading = (async () => {
      for await (const data of inbox.pieces(new AbortController().signal)) got.push(new TextDecoder().decode(data));
    })();
    expect(await settled(reading)).toBe(false);
    expect(got).toEqual(["ab"]);
    inbox.push(piece(1, "cd"));
    inbox.push(piece(2, "", true));
    await reading;
    expect(got).toEqual(["ab", "cd"]);
    expect(acks).toEqual([0, 1, 2]);
  });

  it("breaks the upload on a gap in the sequence, even while the reader waits", async () => {
    const inbox = new FileInbox(() => {});
    const reading = (async () => {
      for await (const _ of inbox.pieces(new AbortController().signal)) {
        // drained
      }
    })();
    expect(await settled(reading)).toBe(false);
    inbox.push(piece(1, "skipped one"));
    await expect(reading).rejects.toMatchObject({ code: "protocol_error" });
  });

  it("rejects a waiting reader when the command is canceled", async () => {
    const inbox = new FileInbox(() => {});
    const abort = new AbortController();
    const reading = inbox.pieces(abort.signal).next();
    expect(await settled(reading)).toBe(false);
    const reason = new Error("the console canceled the command");
    abort.abort(reason);
    await expect(reading).rejects.toBe(reason);
  });
});

describe("FileOutbox", () => {
  it("sends at most its window of unacknowledged pieces, and goes on as acks arrive", async () => {
    const sent: number[] = [];
    const outbox = new FileOutbox((p) => sent.push(p.seq), 2);
    const signal = new AbortController().signal;
    await outbox.push({ data: new Uint8Array(1), last: false }, signal);
    await outbox.push({ data: new Uint8Array(1), last: false }, signal);
    const third = outbox.push({ data: new Uint8Array(1), last: true }, signal);
    expect(await settled(third)).toBe(false);
    expect(sent).toEqual([0, 1]);
    outbox.onAck(0);
    await third;
    expect(sent).toEqual([0, 1, 2]);
  });

  it("rejects a push waiting for room when the command is canceled, and sends nothing more", async () => {
    const sent: number[] = [];
    const outbox = new FileOutbox((p) => sent.push(p.seq), 1);
    const abort = new AbortController();
    await outbox.push({ data: new Uint8Array(1), last: false }, abort.signal);
    const waiting = outbox.push({ data: new Uint8Array(1), last: true }, abort.signal);
    expect(await settled(waiting)).toBe(false);
    const reason = new Error("the console canceled the command");
    abort.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(sent).toEqual([0]);
  });
});
