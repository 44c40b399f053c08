import { describe, expect, it } from "vitest";
import { callJson, signInAdmin, waitFor } from "./helpers.ts";
import { connectTestWorker } from "./worker-harness.ts";

interface Listed {
  node_id: string;
  status: string;
  capabilities: Array<{ name: string; max_inflight: number }>;
}

async function listed(cookie: string, nodeId: string): Promise<Listed | undefined> {
  const res = await callJson<{ items: Listed[] }>("/api/v1/workers?page_size=100", { cookie });
  return res.body.items.find((w) => w.node_id === nodeId);
}

describe("a capabilities update sent right behind the hello", () => {
  it("is applied after the hello, not lost: the node serves the updated capabilities", async () => {
    const cookie = await signInAdmin();
    const w = await connectTestWorker({ capabilities: [{ name: "echo", maxInflight: 2 }] });
    // No wait for the acknowledgement: a worker whose Docker came up while its hello was
    // still being recorded sends the update at once.
    w.send({
      payload: {
        case: "capabilitiesUpdate",
        value: {
          capabilities: [
            { name: "echo", maxInflight: 2 },
            { name: "pythonExec", maxInflight: 3 },
          ],
        },
      },
    });
    await w.acked;
    const item = await waitFor(async () => {
      const i = await listed(cookie, w.nodeId);
      return i?.capabilities.length === 2 && i;
    });
    expect(item.status).toBe("online");
    expect(item.capabilities).toEqual([
      { name: "echo", max_inflight: 2 },
      { name: "pythonExec", max_inflight: 3 },
    ]);
    const inflight = await callJson<{ workers: Array<{ node_id: string; capabilities: Array<{ name: string }> }> }>(
      "/api/v1/workers/inflight",
      { cookie },
    );
    expect(inflight.body.workers.find((x) => x.node_id === w.nodeId)?.capabilities.map((c) => c.name)).toEqual([
      "echo",
      "pythonExec",
    ]);
    w.close();
  });
});
