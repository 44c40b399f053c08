/**
 * Bursts against the self-hosted product with its defaults: 16 concurrent echo calls and
 * 16 concurrent pythonExec calls of one account all succeed (calls beyond a worker's slots,
 * its warm pool or the account's run limit wait for their turn instead of a 429).
 */
import { describe, expect, it } from "vitest";
import { post, python, useConsole } from "./harness.ts";

const c = useConsole({}, 240_000);

describe("bursts", () => {
  it("16 concurrent echo calls all answer 200", async () => {
    const res = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        post<{ message: string }>(c.url, c.token, "/api/v1/commands/echo", { message: `m${i}` }),
      ),
    );
    expect(res.map((r) => r.status)).toEqual(Array(16).fill(200));
    expect(res.map((r) => r.body.message)).toEqual(Array.from({ length: 16 }, (_, i) => `m${i}`));
  });

  it("16 concurrent pythonExec calls all answer 200, each in a fresh container", async () => {
    const res = await Promise.all(Array.from({ length: 16 }, (_, i) => python(c, `print(${i} * 2)`)));
    expect(
      res.map((r) => r.status),
      c.output().slice(-2000),
    ).toEqual(Array(16).fill(200));
    expect(res.map((r) => (r.body.result as { output?: string } | undefined)?.output)).toEqual(
      Array.from({ length: 16 }, (_, i) => `${i * 2}\n`),
    );
  });
});
