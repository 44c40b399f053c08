import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { codeFromString, createEndStreamSerialization, endStreamFlag } from "@connectrpc/connect/protocol-connect";
import { type ConnectRequest, ConnectRequestSchema, type ConnectResponse, ConnectResponseSchema } from "@onlyboxes/proto";

/** Connect streaming envelope flags: a data message, or the end of the stream with a JSON trailer. */
export const FLAG_DATA = 0x00;
export const FLAG_END_STREAM = endStreamFlag;

/** Path of the worker stream; the WebSocket upgrade happens here. */
export const CONNECT_PATH = "/onlyboxes.registry.v1.WorkerRegistryService/Connect";

const endStream = createEndStreamSerialization({});

/**
 * Reads the one envelope that fills a whole WebSocket message (each side sends exactly one
 * per message); a short or overlong message is a protocol error, never buffered for later.
 */
export function decodeEnvelope(data: Uint8Array): { flags: number; payload: Uint8Array } {
  if (data.length < 5) throw new Error("envelope shorter than its header");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint32(1) !== data.length - 5) throw new Error("envelope length does not match the message");
  return { flags: view.getUint8(0), payload: data.subarray(5) };
}

/** One data envelope carrying a message to the worker. */
export function encodeResponse(msg: ConnectResponse): Uint8Array {
  return encodeEnvelope(FLAG_DATA, toBinary(ConnectResponseSchema, msg));
}

/** The end-of-stream envelope carrying a Connect error, sent before the console closes a worker's socket. */
export function encodeEndStream(code: string, message: string): Uint8Array {
  const error = new ConnectError(message, codeFromString(code) ?? Code.Unknown);
  return encodeEnvelope(FLAG_END_STREAM, endStream.serialize({ metadata: new Headers(), error }));
}

/** Decodes a worker's message; returns null for an end-stream envelope (the worker is closing). */
export function decodeRequest(data: Uint8Array): ConnectRequest | null {
  const { flags, payload } = decodeEnvelope(data);
  if (flags & FLAG_END_STREAM) return null;
  if (flags !== FLAG_DATA) throw new Error(`unsupported envelope flags ${flags}`);
  return fromBinary(ConnectRequestSchema, payload);
}
