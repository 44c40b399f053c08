/**
 * Bursts: a call that finds every slot busy waits in the node's admission queue (until its
 * own timeout, within CONSOLE_QUEUE_MAX) instead of being refused, and waiting calls are
 * served round-robin between accounts.
 */
import { describe, expect, it } from "vitest";
import { AdmissionQueue } from "../src/objects/worker-node.ts";
import { callJson, newAccountWithToken, waitFor } from "./helpers.ts";
import { connectTestWorker, type TestReply, workersClosedAfterEach } from "./worker-harness.ts";

const workers = workersClosedAfterEach();

function echo(token: string, message: string, timeoutMs = 20_000) {
  return callJson<{ message?: string; error?: string }>("/api/v1/commands/echo", {
    method: "POST",
    bearer: token,
    body: { message, timeout_ms: timeoutMs },
  });
}

describe("AdmissionQueue", () => {
  it("serves accounts in turn and each account in arrival order", () => {
    const q = new AdmissionQueue<string>();
    for (const w of ["a1", "a2", "a3"]) q.push("a", w);
    for (const w of ["b1", "b2"]) q.push("b", w);
    q.push("c", "c1");
    const order: string[] = [];
    for (let w = q.next(); w !== undefined; w = q.next()) order.push(w);
    expect(order).toEqual(["a1", "b1", "c1", "a2", "b2", "a3"]);
    expect(q.size).toBe(0);
  });

  it("takes out a waiter whose deadline passed, and only once", () => {
    const q = new AdmissionQueue<string>();
    q.push("a", "a1");
    q.push("a", "a2");
    expect(q.remove("a1")).toBe(true);
    expect(q.remove("a1")).toBe(false);
    expect(q.size).toBe(1);
    expect(q.next()).toBe("a2");
  });
});

describe("bursts beyond a worker's slots", () => {
  it("16 concurrent echo calls against 4 slots all answer 200, never more than 4 at the worker", async () => {
    let running = 0;
    let peak = 0;
    const w = await connectTestWorker({
      capabilities: [{ name: "echo", maxInflight: 4 }],
      handler: async (_d, raw) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 30));
        running--;
        return { payload: { message: (raw as { message: string }).message } } satisfies TestReply;
      },
    });
    await w.acked;
    workers.push(w);
    // Two accounts: the per-account run limit (8) is not what this test is about.
    const a = await newAccountWithToken();
    const b = await newAccountWithToken();
    const calls = Array.from({ length: 16 }, (_, i) => echo(i % 2 ? a.token : b.token, `m${i}`));
    const res = await Promise.all(calls);
    expect(res.map((r) => r.status)).toEqual(Array(16).fill(200));
    expect(res.map((r) => r.body.message)).toEqual(Array.from({ length: 16 }, (_, i) => `m${i}`));
    expect(peak).toBeLessThanOrEqual(4);
    expect(w.dispatches).toHaveLength(16);
  });

  it("serves a quiet account's call before a busy account's earlier backlog", async () => {
    const held: Array<() => void> = [];
    const w = await connectTestWorker({
      capabilities: [{ name: "echo", maxInflight: 1 }],
      handler: (_d, raw) =>
        new Promise<TestReply>((resolve) =>
          held.push(() => resolve({ payload: { message: (raw as { message: string }).message } })),
        ),
    });
    await w.acked;
    workers.push(w);
    const busy = await newAccountWithToken();
    const quiet = await newAccountWithToken();
    const first = echo(busy.token, "busy-0");
    await waitFor(() => held.length === 1);
    const backlog = [echo(busy.token, "busy-1")];
    // Let busy-1 reach the queue first, then two more of the busy account and one quiet call.
    await new Promise((r) => setTimeout(r, 100));
    backlog.push(echo(busy.token, "busy-2"), echo(busy.token, "busy-3"));
    await new Promise((r) => setTimeout(r, 100));
    const quietCall = echo(quiet.token, "quiet");
    await new Promise((r) => setTimeout(r, 300));
    const served = () =>
      w.dispatches.map((d) => (JSON.parse(new TextDecoder().decode(d.payloadJson)) as { message: string }).message);
    for (let i = 0; i < 5; i++) {
      await waitFor(() => held.length > 0);
      held.shift()?.();
      await waitFor(() => w.dispatches.length >= Math.min(i + 2, 5));
    }
    // Round-robin: whichever of busy-2 and quiet came first, quiet never waits for busy-3.
    const order = served();
    expect(order.slice(0, 2)).toEqual(["busy-0", "busy-1"]);
    expect(order.indexOf("quiet")).toBeLessThan(order.indexOf("busy-3"));
    expect((await Promise.all([first, ...backlog, quietCall])).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  });

  it("answers 429 at once when CONSOLE_QUEUE_MAX calls already wait", async () => {
    const w = await connectTestWorker({ capabilities: [{ name: "echo", maxInflight: 1 }], handler: () => "no-reply" });
    await w.acked;
    workers.push(w);
    // The test environment sets CONSOLE_QUEUE_MAX=16 (vitest.config.ts): one running, 16
    // waiting, from three accounts (each stays under the per-account run limit of 8).
    const accounts = [await newAccountWithToken(), await newAccountWithToken(), await newAccountWithToken()];
    const calls = Array.from({ length: 17 }, (_, i) => echo(accounts[i % 3]?.token ?? "", `w${i}`, 3_000));
    await waitFor(() => w.dispatches.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const refused = await echo(accounts[2]?.token ?? "", "over", 3_000);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatch(/16 calls already wait/);
    expect(Date.now() - started).toBeLessThan(1_000);
    await Promise.all(calls);
  });
});
