import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { workerNodeStub } from "../src/objects/worker-node.ts";
import { callJson, newAccountWithToken, postEcho, signInAdmin, waitFor } from "./helpers.ts";
import { connectTestWorker } from "./worker-harness.ts";

const CONNECT = "http://console.test/rpc/onlyboxes.registry.v1.WorkerRegistryService/Connect";

async function workerRow(nodeId: string) {
  return env.DB.prepare("SELECT status, capabilities, version, node_name FROM workers WHERE node_id = ?")
    .bind(nodeId)
    .first<{ status: string; capabilities: string; version: string; node_name: string }>();
}

describe("worker wire: authentication at the upgrade", () => {
  it("refuses an upgrade without a credential", async () => {
    const res = await SELF.fetch(CONNECT, { headers: { upgrade: "websocket" } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "worker id and secret are required", code: "unauthenticated" });
    expect(res.webSocket).toBeNull();
  });

  it("refuses a wrong secret and an unknown id alike", async () => {
    const w = await connectTestWorker();
    w.close();
    const wrong = await SELF.fetch(CONNECT, {
      headers: { upgrade: "websocket", authorization: "Bearer nope", "x-onlyboxes-worker-id": w.nodeId },
    });
    const unknown = await SELF.fetch(CONNECT, {
      headers: { upgrade: "websocket", authorization: `Bearer ${w.secret}`, "x-onlyboxes-worker-id": crypto.randomUUID() },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(await wrong.json()).toEqual(await unknown.json());
  });

  it("answers a plain GET with a clear 400", async () => {
    const res = await SELF.fetch(CONNECT);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/WebSocket/);
  });
});

describe("worker wire: hello, dispatch, result", () => {
  it("acks the hello and records the node online with its capabilities", async () => {
    const w = await connectTestWorker({ capabilities: [{ name: "echo", maxInflight: 3 }] });
    const ack = await w.acked;
    expect(ack.payload.case).toBe("connectAck");
    const row = await workerRow(w.nodeId);
    expect(row?.status).toBe("online");
    expect(JSON.parse(row?.capabilities ?? "[]")).toEqual([{ name: "echo", max_inflight: 3 }]);
    w.close();
    await waitFor(async () => (await workerRow(w.nodeId))?.status === "offline");
  });

  it("runs echo through REST on a connected worker", async () => {
    const { token } = await newAccountWithToken();
    const w = await connectTestWorker();
    await w.acked;
    const res = await postEcho<{ message: string }>(token, { message: "hello" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ message: "hello" });
    expect(w.dispatches).toHaveLength(1);
    w.close();
  });

  it("fails a pending command at once when the worker disconnects", async () => {
    const { token } = await newAccountWithToken();
    const w = await connectTestWorker({
      handler: (_d, _p, self) => {
        setTimeout(() => self.close(), 50);
        return "no-reply";
      },
    });
    await w.acked;
    const started = Date.now();
    const res = await postEcho<{ error: string }>(token, { message: "x", timeout_ms: 60000 });
    expect(res.status).toBe(502);
    expect(res.body.error).toMatch(/disconnected/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("answers 504 at the deadline and sends the worker a cancel frame", async () => {
    const { token } = await newAccountWithToken();
    const w = await connectTestWorker({ handler: () => "no-reply" });
    await w.acked;
    const res = await postEcho<{ error: string }>(token, { message: "slow", timeout_ms: 300 });
    expect(res.status).toBe(504);
    await waitFor(async () => w.cancels.length === 1);
    expect(w.cancels[0]).toBe(w.dispatches[0]?.commandId);
    w.close();
  });

  it("ends each silent command at its own deadline, whatever order the deadlines come in", async () => {
    const { token } = await newAccountWithToken();
    const w = await connectTestWorker({ handler: () => "no-reply" });
    await w.acked;
    const started = Date.now();
    const timed = (p: Promise<{ status: number }>) => p.then((r) => ({ status: r.status, ms: Date.now() - started }));
    // The long one first, then one that must end well before it.
    const long = timed(postEcho(token, { message: "long", timeout_ms: 1500 }));
    await waitFor(async () => w.dispatches.length === 1);
    const short = timed(postEcho(token, { message: "short", timeout_ms: 200 }));
    const s = await short;
    expect(s.status).toBe(504);
    expect(s.ms).toBeLessThan(1200);
    const l = await long;
    expect(l.status).toBe(504);
    expect(l.ms).toBeGreaterThanOrEqual(1500);
    // Each got its cancel frame.
    await waitFor(async () => w.cancels.length === 2);
    expect(new Set(w.cancels)).toEqual(new Set(w.dispatches.map((d) => d.commandId)));
    w.close();
  });

  it("says no_capacity (429) when no slot frees within the timeout and no_worker (503) without the capability", async () => {
    const { token } = await newAccountWithToken();
    const w = await connectTestWorker({ capabilities: [{ name: "echo", maxInflight: 1 }], handler: () => "no-reply" });
    await w.acked;
    const first = postEcho(token, { message: "a", timeout_ms: 1500 });
    await waitFor(async () => w.dispatches.length === 1);
    const second = await postEcho<{ error: string }>(token, { message: "b", timeout_ms: 300 });
    expect(second.status).toBe(429);
    expect(second.body.error).toMatch(/no slot freed before the deadline/);
    // It waited in the queue and never reached the worker.
    expect(w.dispatches).toHaveLength(1);
    expect((await first).status).toBe(504);
    w.close();
    await w.closed;
    await waitFor(async () => (await workerRow(w.nodeId))?.status === "offline");
    const none = await postEcho<{ error: string }>(token, { message: "c" });
    expect(none.status).toBe(503);
    expect(none.body.error).toMatch(/echo/);
  });

  it("marks a silent node offline at its heartbeat alarm and fails its pending command at once", async () => {
    const { token } = await newAccountWithToken();
    const w = await connectTestWorker({ handler: () => "no-reply" });
    await w.acked;
    const pending = postEcho<{ error: string }>(token, { message: "x", timeout_ms: 60000 });
    await waitFor(async () => w.dispatches.length === 1);
    const stub = workerNodeStub(env, w.nodeId);
    // 20 s without a heartbeat (the window is 3 × 5 s), then the alarm fires.
    await runInDurableObject(stub, (node) => {
      (node as unknown as { lastSeen: number }).lastSeen = Date.now() - 20_000;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const res = await pending;
    expect(res.status).toBe(502);
    expect(res.body.error).toMatch(/heartbeats/);
    expect(await w.closed).toBe(4001);
    expect((await workerRow(w.nodeId))?.status).toBe("offline");
  });

  it("passes a worker's error code through to the caller", async () => {
    const { token } = await newAccountWithToken();
    const w = await connectTestWorker({ handler: () => ({ error: { code: "boom", message: "kaput" } }) });
    await w.acked;
    const res = await postEcho<{ error: string }>(token, { message: "x" });
    expect(res.status).toBe(502);
    expect(res.body.error).toBe("boom: kaput");
    w.close();
  });

  it("replaces an older connection of the same node with the newer one", async () => {
    const first = await connectTestWorker();
    await first.acked;
    const second = await connectTestWorker({ nodeId: first.nodeId, secret: first.secret, noProvision: true });
    await second.acked;
    expect(await first.closed).toBe(4000);
    const { token } = await newAccountWithToken();
    const res = await postEcho(token, { message: "to-new" });
    expect(res.status).toBe(200);
    expect(second.dispatches).toHaveLength(1);
    expect(first.dispatches).toHaveLength(0);
    second.close();
  });

  it("closes the socket at once when an admin deletes the worker", async () => {
    const w = await connectTestWorker();
    await w.acked;
    const admin = await signInAdmin();
    const del = await callJson(`/api/v1/workers/${w.nodeId}`, { method: "DELETE", cookie: admin });
    expect(del.status).toBe(204);
    expect(await w.closed).toBe(4003);
    const again = await SELF.fetch(CONNECT, {
      headers: { upgrade: "websocket", authorization: `Bearer ${w.secret}`, "x-onlyboxes-worker-id": w.nodeId },
    });
    expect(again.status).toBe(401);
  });

  it("streams output chunks before the result", async () => {
    const w = await connectTestWorker({
      handler: (d, _p, self) => {
        self.output(d.commandId, "stdout", "part-1");
        return { payload: { message: "done" } };
      },
    });
    await w.acked;
    const { dispatch } = await import("../src/lib/dispatch.ts");
    const chunks: string[] = [];
    const result = await dispatch(env, {
      accountId: "acc_wire_test",
      capability: "echo",
      payload: { message: "x" },
      timeoutMs: 2000,
      onOutput: (c) => chunks.push(`${c.stream}:${new TextDecoder().decode(c.data)}`),
    });
    expect(result).toEqual({ message: "done" });
    expect(w.dispatches[0]?.streamOutput).toBe(true);
    expect(chunks).toEqual(["stdout:part-1"]);
    w.close();
  });
});
