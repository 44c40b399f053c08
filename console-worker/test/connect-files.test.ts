/**
 * ExecService's file methods (ListFiles, ReadFile, WriteFile, DeleteFile) through the real
 * app, Session/WorkerNode objects and the real worker wire, against a fake worker that
 * keeps each session's files in memory and moves their bytes as FileChunk frames, as the
 * Docker worker does: a round trip with the dashboard's cookie and with a token, bad
 * input, the size limit, and another account's session looking exactly like a missing one.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { type CommandDispatch, ConnectResponseSchema } from "@onlyboxes/proto";
import { ErrorDetailSchema, FileType, type ReadFileResponse } from "@onlyboxes/proto/exec";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeEnvelope, FLAG_END_STREAM } from "../src/rpc/envelope.ts";
import { execClient, failureOf } from "./connect-client.ts";
import { callJson, newAccountWithToken, ORIGIN } from "./helpers.ts";
import {
  connectTestWorker,
  offering,
  type TestReply,
  type TestWorker,
  terminalReply,
  workersClosedAfterEach,
} from "./worker-harness.ts";

/** Each worker-side session key's files. */
const files = new Map<string, Map<string, Uint8Array>>();
/** File operations the fake worker was asked for, e.g. "write a.bin". */
const ops: string[] = [];
const workers = workersClosedAfterEach();

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** A worker with terminalExec (to start sessions) and sessionFiles over an in-memory store. */
async function fileWorker(): Promise<TestWorker> {
  // Upload pieces per command, and who waits for the last one.
  const uploads = new Map<string, { parts: Uint8Array[]; done: (bytes: Uint8Array) => void }>();
  const handler = async (d: CommandDispatch, raw: unknown, w: TestWorker): Promise<TestReply> => {
    const p = raw as { session_id: string; op?: string; path?: string };
    if (d.capability === "terminalExec") {
      files.set(p.session_id, files.get(p.session_id) ?? new Map());
      return terminalReply(p.session_id);
    }
    ops.push(`${p.op} ${p.path}`);
    const store = files.get(p.session_id);
    const path = p.path ?? "";
    if (!store) return { error: { code: "session_not_found", message: "session not found" } };
    switch (p.op) {
      case "write": {
        const bytes = await new Promise<Uint8Array>((done) => uploads.set(d.commandId, { parts: [], done }));
        store.set(path, bytes);
        return { payload: { path, size: bytes.byteLength } };
      }
      case "read": {
        const bytes = store.get(path);
        if (!bytes) return { error: { code: "file_not_found", message: "file not found" } };
        const half = Math.floor(bytes.byteLength / 2);
        const pieces = [bytes.subarray(0, half), bytes.subarray(half)];
        pieces.forEach((data, seq) => {
          const announce = seq === 0 ? { totalSize: BigInt(bytes.byteLength), mimeType: "application/octet-stream" } : {};
          w.send({ payload: { case: "fileChunk", value: { commandId: d.commandId, seq, data, last: seq === 1, ...announce } } });
        });
        return { payload: { path, size: bytes.byteLength, mime_type: "application/octet-stream" } };
      }
      case "list": {
        const entries = [...store].map(([name, b]) => ({ name, type: "file", size: b.byteLength, mtime: 1_700_000_000_000 }));
        return { payload: { path, entries } };
      }
      case "delete":
        if (!store.delete(path)) return { error: { code: "file_not_found", message: "file not found" } };
        return { payload: { path } };
      default:
        return { error: { code: "invalid_argument", message: "unexpected" } };
    }
  };
  const w = await connectTestWorker({ capabilities: offering("terminalExec", "sessionFiles"), handler });
  // The pieces of an upload, which the harness does not handle: acknowledged as they come.
  w.socket.addEventListener("message", (ev) => {
    const { flags, payload } = decodeEnvelope(new Uint8Array(ev.data as ArrayBuffer));
    if (flags & FLAG_END_STREAM) return;
    const msg = fromBinary(ConnectResponseSchema, payload);
    if (msg.payload.case !== "fileChunk") return;
    const chunk = msg.payload.value;
    const upload = uploads.get(chunk.commandId);
    if (!upload) return;
    upload.parts.push(chunk.data);
    w.send({ payload: { case: "fileChunkAck", value: { commandId: chunk.commandId, seq: chunk.seq } } });
    if (chunk.last) upload.done(concat(upload.parts));
  });
  await w.acked;
  workers.push(w);
  return w;
}

interface Account {
  token: string;
  cookie: string;
}
let owner: Account;
let stranger: Account;

beforeAll(async () => {
  owner = await newAccountWithToken();
  stranger = await newAccountWithToken();
});

/** A new session of the account (REST, with its token). */
async function newSession(who: Account): Promise<string> {
  const res = await callJson<{ session_id: string }>("/api/v1/sessions", { method: "POST", bearer: who.token, body: {} });
  expect(res.status).toBe(201);
  return res.body.session_id;
}

const asDashboard = (who: Account) => execClient({ cookie: who.cookie, origin: ORIGIN, "sec-fetch-site": "same-origin" });
const withToken = (who: Account, binary = false) => execClient({ authorization: `Bearer ${who.token}` }, { binary });

/** Every piece of a ReadFile stream. */
async function readAll(stream: AsyncIterable<ReadFileResponse>): Promise<ReadFileResponse["piece"][]> {
  const pieces: ReadFileResponse["piece"][] = [];
  for await (const msg of stream) pieces.push(msg.piece);
  return pieces;
}

/** Bytes 0..255 repeated: every byte value, so an encoding slip shows. */
const BYTES = Uint8Array.from({ length: 1000 }, (_, i) => i % 256);

describe("ExecService file methods", () => {
  it.each([
    ["the dashboard cookie (JSON)", (who: Account) => asDashboard(who)],
    ["a bearer token (binary)", (who: Account) => withToken(who, true)],
  ])("write, list, read back the same bytes, and delete a file with %s", async (_label, client) => {
    await fileWorker();
    const id = await newSession(owner);
    const c = client(owner);
    const written = await c.writeFile({ sessionId: id, path: "data/a.bin", data: BYTES });
    expect(written).toMatchObject({ path: "data/a.bin", size: 1000n });

    const listing = await c.listFiles({ sessionId: id });
    expect(listing.path).toBe(".");
    expect(listing.entries.map((e) => ({ name: e.name, type: e.type, size: e.size, mtime: e.mtimeUnixMs }))).toEqual([
      { name: "data/a.bin", type: FileType.FILE, size: 1000n, mtime: 1_700_000_000_000n },
    ]);

    const pieces = await readAll(c.readFile({ sessionId: id, path: "data/a.bin" }));
    expect(pieces[0]).toMatchObject({ case: "info", value: { size: 1000n, mimeType: "application/octet-stream" } });
    const data = concat(pieces.flatMap((p) => (p.case === "data" ? [p.value] : [])));
    expect([...data]).toEqual([...BYTES]);

    expect(await c.deleteFile({ sessionId: id, path: "data/a.bin" })).toBeDefined();
    const gone = await failureOf(readAll(c.readFile({ sessionId: id, path: "data/a.bin" })));
    expect(gone.code).toBe(Code.NotFound);
    expect(gone.findDetails(ErrorDetailSchema)[0]?.code).toBe("file_not_found");
    expect((await c.listFiles({ sessionId: id })).entries).toEqual([]);
  });

  it("answers another account's session exactly like a missing one, on every method", async () => {
    await fileWorker();
    const id = await newSession(owner);
    await withToken(owner).writeFile({ sessionId: id, path: "secret.txt", data: new TextEncoder().encode("mine") });
    const before = ops.length;
    for (const c of [asDashboard(stranger), withToken(stranger)]) {
      const calls: Array<[string, (sessionId: string) => Promise<unknown>]> = [
        ["ListFiles", (sessionId) => c.listFiles({ sessionId })],
        ["ReadFile", (sessionId) => readAll(c.readFile({ sessionId, path: "secret.txt" }))],
        ["WriteFile", (sessionId) => c.writeFile({ sessionId, path: "secret.txt", data: new Uint8Array([1]) })],
        ["DeleteFile", (sessionId) => c.deleteFile({ sessionId, path: "secret.txt" })],
      ];
      for (const [name, run] of calls) {
        const foreign = await failureOf(run(id));
        const missing = await failureOf(run("sess_missing"));
        expect(foreign.code, name).toBe(Code.NotFound);
        expect(foreign.rawMessage, name).toBe("session not found");
        expect(foreign.findDetails(ErrorDetailSchema)[0]?.code, name).toBe("session_not_found");
        expect([missing.code, missing.rawMessage], name).toEqual([foreign.code, foreign.rawMessage]);
      }
    }
    // The worker never heard of the stranger's attempts, and the owner's file is intact.
    expect(ops.slice(before)).toEqual([]);
    const pieces = await readAll(withToken(owner).readFile({ sessionId: id, path: "secret.txt" }));
    const data = concat(pieces.flatMap((p) => (p.case === "data" ? [p.value] : [])));
    expect(new TextDecoder().decode(data)).toBe("mine");
  });

  it.each([
    ["an empty path", { sessionId: "sess_x", path: "" }, "path: must not be empty"],
    ["a NUL in the path", { sessionId: "sess_x", path: "a\0b" }, "path: must not contain NUL characters"],
    ["a path too long", { sessionId: "sess_x", path: "x".repeat(4097) }, /^path: must be at most \d+ characters$/],
    ["no session", { sessionId: "", path: "a" }, "session_id: must not be empty"],
    ["a session id with a space", { sessionId: "a b", path: "a" }, "session_id: must be printable ASCII without spaces"],
  ])("refuses %s with invalid_argument on every method, before any worker sees it", async (_label, args, message) => {
    await fileWorker();
    const before = ops.length;
    const c = withToken(owner);
    const calls = [
      () => readAll(c.readFile(args)),
      () => c.writeFile({ ...args, data: new Uint8Array([1]) }),
      () => c.deleteFile(args),
      ...(args.path === "" ? [] : [() => c.listFiles(args)]),
    ];
    for (const run of calls) {
      const e = await failureOf(run());
      expect(e.code).toBe(Code.InvalidArgument);
      expect(e.rawMessage).toMatch(message);
      expect(e.findDetails(ErrorDetailSchema)[0]?.code).toBe("invalid_argument");
    }
    expect(ops.slice(before)).toEqual([]);
  });

  it("refuses a WriteFile above CONSOLE_FILE_MAX_BYTES with file_too_large and writes nothing", async () => {
    await fileWorker();
    const id = await newSession(owner);
    const before = ops.length;
    const small = execClient({ authorization: `Bearer ${owner.token}` }, { env: { CONSOLE_FILE_MAX_BYTES: "1024" } });
    const e = await failureOf(small.writeFile({ sessionId: id, path: "big.bin", data: new Uint8Array(1025) }));
    expect(e.code).toBe(Code.ResourceExhausted);
    expect(e.rawMessage).toBe("the file is larger than the limit of 1024 bytes");
    expect(e.findDetails(ErrorDetailSchema)[0]?.code).toBe("file_too_large");
    expect(ops.slice(before)).toEqual([]);
    // At the limit it is written.
    expect((await small.writeFile({ sessionId: id, path: "ok.bin", data: new Uint8Array(1024) })).size).toBe(1024n);
    expect((await small.listFiles({ sessionId: id })).entries.map((f) => f.name)).toEqual(["ok.bin"]);
  });

  it("takes a WriteFile above the JSON body limit (its own limit applies)", async () => {
    await fileWorker();
    const id = await newSession(owner);
    const big = Uint8Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 7) % 256);
    expect((await withToken(owner, true).writeFile({ sessionId: id, path: "big.bin", data: big })).size).toBe(BigInt(big.length));
    const pieces = await readAll(withToken(owner, true).readFile({ sessionId: id, path: "big.bin" }));
    const data = concat(pieces.flatMap((p) => (p.case === "data" ? [p.value] : [])));
    expect(data.byteLength).toBe(big.length);
    expect(data.findIndex((b, i) => b !== big[i])).toBe(-1);
  });
});
