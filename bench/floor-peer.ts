// The peer of bench/floor-bench.mjs's lean echo, bundled for Node there: answers a
// commandDispatch envelope with the commandResult an echo worker at its leanest would
// send (the dispatch's payload back), on the product's protobuf wire.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConnectRequestSchema, ConnectResponseSchema } from "@onlyboxes/proto";

/** The answer to one envelope from the console, or null when it is not a dispatch. */
export function answer(data: Uint8Array): Uint8Array | null {
  const msg = fromBinary(ConnectResponseSchema, data.subarray(5));
  if (msg.payload.case !== "commandDispatch") return null;
  const d = msg.payload.value;
  const result = toBinary(
    ConnectRequestSchema,
    create(ConnectRequestSchema, {
      payload: {
        case: "commandResult",
        value: { commandId: d.commandId, payloadJson: d.payloadJson, completedUnixMs: BigInt(Date.now()) },
      },
    }),
  );
  const out = new Uint8Array(5 + result.length);
  new DataView(out.buffer).setUint32(1, result.length);
  out.set(result, 5);
  return out;
}
