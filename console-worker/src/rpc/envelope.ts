import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type ConnectRequest, ConnectRequestSchema, type ConnectResponse, ConnectResponseSchema } from "@onlyboxes/proto";

/** Connect streaming envelope flags: a data message, or the end of the stream with a JSON trailer. */
export const FLAG_DATA = 0x00;
export const FLAG_END_STREAM = 0x02;

/** Path of the worker stream; the WebSocket upgrade happens here. */
export const CONNECT_PATH = "/onlyboxes.registry.v1.WorkerRegistryService/Connect";

/** Wraps bytes in one Connect envelope: 1 flag byte, 4-byte big-endian length, payload. */
export function encodeEnvelope(flags: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, payload.length, false);
  out.set(payload, 5);
  return out;
}

/** Reads one envelope that fills the whole WebSocket message; anything else is a protocol error. */
export function decodeEnvelope(data: Uint8Array): { flags: number; payload: Uint8Array } {
  if (data.length < 5) throw new Error("envelope shorter than its header");
  const flags = data[0] ?? 0;
  const len = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(1, false);
  if (len !== data.length - 5) throw new Error("envelope length does not match the message");
  return { flags, payload: data.subarray(5) };
}

export function encodeResponse(msg: ConnectResponse): Uint8Array {
  return encodeEnvelope(FLAG_DATA, toBinary(ConnectResponseSchema, msg));
}

/** The end-of-stream envelope carrying a Connect error, sent before the console closes a worker's socket. */
export function encodeEndStream(code: string, message: string): Uint8Array {
  const trailer = new TextEncoder().encode(JSON.stringify({ error: { code, message } }));
  return encodeEnvelope(FLAG_END_STREAM, trailer);
}

/** Decodes a worker's message; returns null for an end-stream envelope (the worker is closing). */
export function decodeRequest(data: Uint8Array): ConnectRequest | null {
  const { flags, payload } = decodeEnvelope(data);
  if (flags & FLAG_END_STREAM) return null;
  if (flags !== FLAG_DATA) throw new Error(`unsupported envelope flags ${flags}`);
  return fromBinary(ConnectRequestSchema, payload);
}
