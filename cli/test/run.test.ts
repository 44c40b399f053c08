import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { ErrorDetailSchema, ExecService, OutputStream, type RunRequest, type RunResponseSchema } from "@onlyboxes/proto/exec";
import { describe, expect, it } from "vitest";
import { EXIT_INTERRUPTED, EXIT_RUN_FAILED, EXIT_TIMEOUT, runProgram } from "../src/run.ts";

type Handler = (req: RunRequest, signal: AbortSignal) => AsyncIterable<MessageInitShape<typeof RunResponseSchema>>;

/** A client of an in-memory ExecService (Connect's router transport) answering with `handler`. */
function clientOf(handler: Handler) {
  const transport = createRouterTransport(({ service }) => {
    service(ExecService, {
      run: (req, ctx) => handler(req, ctx.signal),
    });
  });
  return createClient(ExecService, transport);
}

function sinks() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, sinks: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) } };
}

describe("runProgram", () => {
  it("copies stdout and stderr in order and answers the program's exit code", async () => {
    const s = sinks();
    const client = clientOf(async function* (req) {
      expect(req.program.case).toBe("shell");
      yield { event: { case: "output", value: { stream: OutputStream.STDOUT, data: "a\n" } } };
      yield { event: { case: "output", value: { stream: OutputStream.STDERR, data: "b\n" } } };
      yield { event: { case: "output", value: { stream: OutputStream.STDOUT, data: "c\n" } } };
      yield { event: { case: "result", value: { exitCode: 7, sessionId: "s-1", created: true } } };
    });
    const code = await runProgram(client, { program: { case: "shell", value: { command: "x" } } }, s.sinks);
    expect(code).toBe(7);
    expect(s.out).toEqual(["a\n", "c\n"]);
    expect(s.err).toEqual(["b\n", "onlyboxes: session s-1\n"]);
  });

  it("reports a console error with its Onlyboxes code and exits 125; a timeout exits 124", async () => {
    for (const [code, detail, exit] of [
      [Code.Unavailable, "no_worker", EXIT_RUN_FAILED],
      [Code.DeadlineExceeded, "deadline_exceeded", EXIT_TIMEOUT],
    ] as const) {
      const s = sinks();
      const client = clientOf(async function* () {
        yield { event: { case: "output", value: { stream: OutputStream.STDOUT, data: "partial\n" } } };
        throw new ConnectError("it did not work", code, undefined, [{ desc: ErrorDetailSchema, value: { code: detail } }]);
      });
      expect(await runProgram(client, { program: { case: "python", value: { code: "x" } } }, s.sinks)).toBe(exit);
      expect(s.out).toEqual(["partial\n"]);
      expect(s.err).toEqual([`onlyboxes: it did not work (${detail})\n`]);
    }
  });

  it("stops on the signal and exits 130", async () => {
    const s = sinks();
    const stop = new AbortController();
    const client = clientOf(async function* (_req, signal) {
      yield { event: { case: "output", value: { stream: OutputStream.STDOUT, data: "tick\n" } } };
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
    });
    const done = runProgram(
      client,
      { program: { case: "python", value: { code: "x" } } },
      {
        stdout: (t) => {
          s.out.push(t);
          stop.abort();
        },
        stderr: s.sinks.stderr,
      },
      stop.signal,
    );
    expect(await done).toBe(EXIT_INTERRUPTED);
    expect(s.err).toEqual(["onlyboxes: stopped\n"]);
  });
});
