import { describe, expect, it } from "vitest";
import { newAccountWithToken, postEcho } from "./helpers.ts";
import { connectTestWorker } from "./worker-harness.ts";

describe("a worker shutting down", () => {
  it("answers worker_shutdown as a retryable 503 with the worker's message, not a cancel or a worker error", async () => {
    const { token } = await newAccountWithToken();
    const w = await connectTestWorker({
      handler: () => ({
        error: { code: "worker_shutdown", message: "the worker shut down before the command finished; retry the call" },
      }),
    });
    await w.acked;
    const res = await postEcho<{ error: string }>(token, { message: "hello" });
    expect(res.status).toBe(503);
    expect(res.body.error).toBe("the worker shut down before the command finished; retry the call");
    w.close();
    await w.closed;
  });
});
