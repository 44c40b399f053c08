import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { CapabilityDeclarationSchema, ConnectHelloSchema } from "@onlyboxes/proto";
import { describe, expect, it } from "vitest";
import { CLOSE_INVALID_CLAIM, checkCapabilities, checkHello, WORKER_CLAIM_LIMITS } from "../src/rpc/worker-claims.ts";
import { callJson, newAccountWithToken, signInAdmin, waitFor } from "./helpers.ts";
import { connectTestWorker, type TestWorkerOptions } from "./worker-harness.ts";

interface WorkerItem {
  node_id: string;
  node_name: string;
  capabilities: Array<{ name: string; max_inflight: number }>;
  labels: Record<string, string>;
  version: string;
  status: string;
}

async function listed(nodeId: string): Promise<WorkerItem | undefined> {
  const res = await callJson<{ items: WorkerItem[] }>("/api/v1/workers?page_size=100", { cookie: await signInAdmin() });
  expect(res.status).toBe(200);
  return res.body.items.find((w) => w.node_id === nodeId);
}

describe("worker claims: pure checks", () => {
  const hello = (over: MessageInitShape<typeof ConnectHelloSchema> = {}) =>
    create(ConnectHelloSchema, {
      nodeId: "n",
      nodeName: "n",
      executorKind: "docker",
      version: "1",
      labels: { zone: "a" },
      capabilities: [{ name: "echo", maxInflight: 4 }],
      ...over,
    });

  it("accepts a hello within the bounds", () => {
    const r = checkHello(hello({ capabilities: [{ name: "pythonExec", maxInflight: WORKER_CLAIM_LIMITS.maxInflight }] }));
    expect(r).toEqual({
      ok: true,
      value: {
        nodeName: "n",
        executorKind: "docker",
        version: "1",
        labels: { zone: "a" },
        caps: [{ name: "pythonExec", maxInflight: 64 }],
      },
    });
  });

  it("takes a higher slot cap when the operator sets one (CONSOLE_WORKER_MAX_INFLIGHT)", () => {
    expect(checkCapabilities([create(CapabilityDeclarationSchema, { name: "echo", maxInflight: 200 })], 256)).toEqual({
      ok: true,
      value: [{ name: "echo", maxInflight: 200 }],
    });
    expect(checkCapabilities([create(CapabilityDeclarationSchema, { name: "echo", maxInflight: 257 })], 256)).toMatchObject({
      ok: false,
    });
  });

  it.each([
    ["an unknown capability", { capabilities: [{ name: "shellExec", maxInflight: 1 }] }, /unknown capability "shellExec"/],
    ["too many slots", { capabilities: [{ name: "echo", maxInflight: 65 }] }, /max_inflight of echo must be between 0 and 64/],
    ["negative slots", { capabilities: [{ name: "echo", maxInflight: -1 }] }, /max_inflight/],
    [
      "a capability twice",
      {
        capabilities: [
          { name: "echo", maxInflight: 1 },
          { name: "echo", maxInflight: 1 },
        ],
      },
      /declared twice/,
    ],
    ["a long node_name", { nodeName: "x".repeat(129) }, /node_name/],
    ["a long version", { version: "x".repeat(65) }, /version/],
    ["a long executor_kind", { executorKind: "x".repeat(65) }, /executor_kind/],
    [
      "too many labels",
      { labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"])) },
      /at most 32 labels/,
    ],
    ["a long label key", { labels: { ["k".repeat(65)]: "v" } }, /label keys/],
    ["an empty label key", { labels: { "": "v" } }, /label keys/],
    ["a long label value", { labels: { k: "v".repeat(257) } }, /label "k" longer than 256/],
  ])("refuses %s", (_name, over, reason) => {
    const r = checkHello(hello(over));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});

describe("worker claims: a hostile worker is refused before anything is stored", () => {
  const cases: Array<[string, TestWorkerOptions, number, RegExp]> = [
    [
      "an unknown capability",
      { capabilities: [{ name: "rootShell", maxInflight: 4 }] },
      CLOSE_INVALID_CLAIM,
      /unknown capability/,
    ],
    ["10,000 slots", { capabilities: [{ name: "pythonExec", maxInflight: 10_000 }] }, CLOSE_INVALID_CLAIM, /max_inflight/],
    [
      "oversize labels (over the count)",
      { labels: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`key${i}`, "value"])) },
      CLOSE_INVALID_CLAIM,
      /labels/,
    ],
    ["an oversize label value", { labels: { note: "x".repeat(1000) } }, CLOSE_INVALID_CLAIM, /label "note"/],
    ["a 3 MB hello", { labels: { blob: "x".repeat(3 * 1024 * 1024) } }, 1009, /exceeds 65536/],
    ["a long node name", { hello: { nodeName: "n".repeat(1000) } }, CLOSE_INVALID_CLAIM, /node_name/],
  ];

  it.each(cases)("closes on %s with a clear code and stores nothing", async (_name, opts, code, reason) => {
    const w = await connectTestWorker(opts);
    expect(await w.closed).toBe(code);
    expect(await w.closeReason).toMatch(reason);
    const item = await listed(w.nodeId);
    expect(item).toMatchObject({ node_name: "", capabilities: [], labels: {}, version: "", status: "offline" });
    // Nothing reaches the scheduler either: no routing to this node.
    const inflight = await callJson<{ workers: Array<{ node_id: string }> }>("/api/v1/workers/inflight", {
      cookie: await signInAdmin(),
    });
    expect(inflight.body.workers.map((x) => x.node_id)).not.toContain(w.nodeId);
  });

  it("applies the same checks to a capabilities update and keeps the node's last good claim", async () => {
    const w = await connectTestWorker({ capabilities: [{ name: "echo", maxInflight: 2 }] });
    await w.acked;
    w.send({ payload: { case: "capabilitiesUpdate", value: { capabilities: [{ name: "echo", maxInflight: 5000 }] } } });
    expect(await w.closed).toBe(CLOSE_INVALID_CLAIM);
    expect(await w.closeReason).toMatch(/capabilities update refused: max_inflight/);
    const item = await waitFor(async () => {
      const i = await listed(w.nodeId);
      return i?.status === "offline" && i;
    });
    expect(item.capabilities).toEqual([{ name: "echo", max_inflight: 2 }]);
  });
});

describe("worker claims: capabilities update while a command runs", () => {
  it("leaves no in-flight count behind, and the full capacity works afterwards", async () => {
    const { token } = await newAccountWithToken();
    const admin = await signInAdmin();
    const held: Array<() => void> = [];
    const w = await connectTestWorker({
      capabilities: [{ name: "echo", maxInflight: 2 }],
      labels: { suite: "setcaps" },
      handler: (_d, payload) =>
        new Promise((resolve) => {
          held.push(() => resolve({ payload }));
        }),
    });
    await w.acked;
    // Only this worker offers echo for the rest of the test (others in the file are closed).
    const first = callJson("/api/v1/commands/echo", { method: "POST", bearer: token, body: { message: "one" } });
    await waitFor(async () => held.length === 1);
    w.send({ payload: { case: "capabilitiesUpdate", value: { capabilities: [{ name: "echo", maxInflight: 3 }] } } });
    const mine = async () => {
      const res = await callJson<{
        workers: Array<{ node_id: string; capabilities: Array<{ name: string; inflight: number; max_inflight: number }> }>;
      }>("/api/v1/workers/inflight", { cookie: admin });
      return res.body.workers.find((x) => x.node_id === w.nodeId)?.capabilities;
    };
    // The update is applied (3 slots now) while the command still runs and counts.
    await waitFor(async () => (await mine())?.[0]?.max_inflight === 3);
    expect(await mine()).toEqual([{ name: "echo", inflight: 1, max_inflight: 3 }]);
    held.shift()?.();
    expect((await first).status).toBe(200);
    expect(await mine()).toEqual([{ name: "echo", inflight: 0, max_inflight: 3 }]);
    // Every slot serves at once again: three commands held together, none refused.
    const three = [1, 2, 3].map((i) =>
      callJson("/api/v1/commands/echo", { method: "POST", bearer: token, body: { message: `m${i}` } }),
    );
    await waitFor(async () => held.length === 3);
    expect(await mine()).toEqual([{ name: "echo", inflight: 3, max_inflight: 3 }]);
    for (const release of held.splice(0)) release();
    expect((await Promise.all(three)).map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await mine()).toEqual([{ name: "echo", inflight: 0, max_inflight: 3 }]);
    w.close();
  });
});
