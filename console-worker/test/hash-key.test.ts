import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, callJson, signInAdmin } from "./helpers.ts";

const CONNECT = "http://console.test/rpc/onlyboxes.registry.v1.WorkerRegistryService/Connect";

describe("CONSOLE_HASH_KEY pasted with a trailing newline", () => {
  it("still lets a registered worker connect, and still refuses a wrong secret", async () => {
    const pasted = { CONSOLE_HASH_KEY: `${env.CONSOLE_HASH_KEY}\n` };
    const admin = await signInAdmin();
    const created = await callJson<{ node_id: string; command: string }>("/api/v1/workers", {
      method: "POST",
      cookie: admin,
      env: pasted,
    });
    expect(created.status).toBe(201);
    const secret = /WORKER_SECRET=(\S+)/.exec(created.body.command)?.[1] ?? "";
    expect(secret).not.toBe("");

    const upgrade = (credential: string) =>
      call(CONNECT, {
        headers: { upgrade: "websocket", authorization: `Bearer ${credential}`, "x-onlyboxes-worker-id": created.body.node_id },
        env: pasted,
      });
    const res = await upgrade(secret);
    expect(res.status).toBe(101);
    const socket = res.webSocket;
    expect(socket).not.toBeNull();
    socket?.accept();
    socket?.close(1000, "test done");

    expect((await upgrade(`${secret}x`)).status).toBe(401);
  });
});
