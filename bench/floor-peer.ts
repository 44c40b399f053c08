// The peer of bench/floor-bench.mjs's lean echo, bundled for Node there: answers a
// commandDispatch envelope with the commandResult an echo worker at its leanest would
// send (the dispatch's payload back), on the product's protobuf wire.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { ConnectRequestSchema, ConnectResponseSchema } from "@onlyboxes/proto";
import { decodeEnvelope, FLAG_DATA } from "../console-worker/src/rpc/envelope.ts";

/** The answer to one envelope from the console, or null when it is not a dispatch. */
export function answer(data: Uint8Array): Uint8Array | null {
  const msg = fromBinary(ConnectResponseSchema, decodeEnvelope(data).payload);
  if (msg.payload.case !== "commandDispatch") return null;
  const d = msg.payload.value;
  const result = create(ConnectRequestSchema, {
    payload: {
      case: "commandResult",
      value: { commandId: d.commandId, payloadJson: d.payloadJson, completedUnixMs: BigInt(Date.now()) },
    },
  });
  return encodeEnvelope(FLAG_DATA, toBinary(ConnectRequestSchema, result));
}
