import { echoInput } from "@onlyboxes/proto";
import { readPayload } from "../docker/payload-fields.ts";
import type { Capability } from "./types.ts";

/**
 * The `echo` capability: answers `{message}` with the same message; proves the path end
 * to end. `delayMs` holds each answer back (WORKER_ECHO_DELAY_MS), which lets operators and
 * tests observe a command in flight; cancel and deadline still end it at once.
 */
export function createEchoCapability(maxInflight: number, delayMs = 0): Capability {
  return {
    name: "echo",
    maxInflight,
    async run(payload, ctx) {
      const { message } = readPayload(echoInput, payload);
      if (delayMs > 0) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, delayMs);
          ctx.signal.addEventListener(
            "abort",
            () => {
              clearTimeout(t);
              reject(ctx.signal.reason);
            },
            { once: true },
          );
        });
      }
      return { message };
    },
  };
}
