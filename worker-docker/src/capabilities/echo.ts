import { type Capability, CommandFailure } from "./types.ts";

/** The `echo` capability: answers `{message}` with the same message; proves the path end to end. */
export function createEchoCapability(maxInflight: number): Capability {
  return {
    name: "echo",
    maxInflight,
    async run(payload) {
      const message = (payload as { message?: unknown } | null)?.message;
      if (typeof message !== "string") throw new CommandFailure("invalid_argument", "echo needs a string message");
      return { message };
    },
  };
}
