import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { createWritableIterable } from "@connectrpc/connect/protocol";
import { CAPABILITY_CONTRACTS, EXEC_TIMEOUT_MS, intBetween } from "@onlyboxes/proto";
import {
  type ExecService,
  OutputStream,
  type RunRequest,
  type RunResponseSchema,
  type RunResultSchema,
} from "@onlyboxes/proto/exec";
import { type CapabilityCall, runCapability } from "../capabilities/run-capability.ts";
import { fromBase64 } from "../lib/crypto.ts";
import type { OutputChunk } from "../lib/dispatch.ts";
import { AppError } from "../lib/errors.ts";
import { validate } from "../lib/validate.ts";
import { guard, scopeOf, toConnectError } from "./call-scope.ts";
import { sessionFileMethods } from "./session-file-methods.ts";

type RunEvent = MessageInitShape<typeof RunResponseSchema>;

/**
 * How often a silent run sends a KeepAlive. Besides keeping idle proxies from closing the
 * stream, a write is how the console notices a client that left without workerd saying so
 * (routes/connect.ts), so this bounds how long a silent run outlives its client.
 */
export const KEEPALIVE_MS = 2_000;

/**
 * The ExecService: `Run` validates the program with the capability's contract (the same
 * checks and messages as REST and MCP), runs it through `runCapability`, and streams the
 * output as the worker sends it, then images and the result. A closed stream (the
 * client went away or pressed Stop) aborts the run, which cancels it on the worker.
 * The file methods are the console's session files (see session-file-methods.ts).
 */
export const execService: ServiceImpl<typeof ExecService> = {
  async *run(req: RunRequest, ctx: HandlerContext): AsyncIterable<RunEvent> {
    const scope = scopeOf(ctx);
    const call = toCall(req);
    const timeoutMs =
      req.timeoutMs === 0
        ? EXEC_TIMEOUT_MS.default
        : guard(() => validate(intBetween(EXEC_TIMEOUT_MS.min, EXEC_TIMEOUT_MS.max), req.timeoutMs, "timeout_ms"));

    const events = createWritableIterable<RunEvent>();
    let quiet = true;
    // Queued synchronously in arrival order; a closed stream (client gone) only drops it.
    const send = (event: RunEvent) => {
      quiet = false;
      events.write(event).catch(() => {});
    };
    const keepalive = setInterval(() => {
      if (quiet) send({ event: { case: "keepalive", value: {} } });
      quiet = true;
    }, KEEPALIVE_MS);
    const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
    const emit = (stream: OutputChunk["stream"], data: string) => {
      if (data === "") return;
      send({
        event: { case: "output", value: { stream: stream === "stderr" ? OutputStream.STDERR : OutputStream.STDOUT, data } },
      });
    };
    let failure: unknown;
    const work = runCapability(scope.env, call, {
      accountId: scope.account.accountId,
      timeoutMs,
      signal: ctx.signal,
      onOutput: (chunk) => emit(chunk.stream, decoders[chunk.stream].decode(chunk.data, { stream: true })),
    })
      .then((result) => {
        emit("stdout", decoders.stdout.decode());
        emit("stderr", decoders.stderr.decode());
        const { images, rest } = splitImages(result);
        for (const image of images) send({ event: { case: "image", value: image } });
        send({ event: { case: "result", value: toRunResult(rest) } });
      })
      .catch((err: unknown) => {
        failure = err;
      })
      .finally(() => {
        clearInterval(keepalive);
        events.close();
      });
    scope.waitUntil(work);
    for await (const event of events) yield event;
    await work;
    if (failure !== undefined) throw toConnectError(failure);
  },
  ...sessionFileMethods,
};

/** A program's session fields as the contracts name them, only those that are set (proto3 sends "" and false for unset). */
function sessionFields(p: { sessionId: string; createIfMissing: boolean }): { session_id?: string; create_if_missing?: true } {
  return {
    ...(p.sessionId !== "" ? { session_id: p.sessionId } : {}),
    ...(p.createIfMissing ? { create_if_missing: true } : {}),
  };
}

/** Turns the request into a capability call checked by that capability's contract. */
function toCall(req: RunRequest): CapabilityCall {
  const program = req.program;
  switch (program.case) {
    case "python": {
      const p = program.value;
      // Only the fields that are set, so a contract without sessions refuses a session by name.
      const input = {
        code: p.code,
        ...sessionFields(p),
        ...(p.reset ? { reset: true } : {}),
      };
      return { capability: "pythonExec", payload: guard(() => validate(CAPABILITY_CONTRACTS.pythonExec.input, input, "python")) };
    }
    case "shell": {
      const s = program.value;
      const input = {
        command: s.command,
        ...sessionFields(s),
        ...(s.leaseTtlSec !== 0 ? { lease_ttl_sec: s.leaseTtlSec } : {}),
      };
      return {
        capability: "terminalExec",
        payload: guard(() => validate(CAPABILITY_CONTRACTS.terminalExec.input, input, "shell")),
      };
    }
    default:
      throw toConnectError(new AppError("invalid_argument", "program: set python or shell"));
  }
}

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * Takes the images out of a pythonExec result (`images: [{mime_type, data_base64}]`), so
 * they travel as bytes in their own messages and not twice.
 */
function splitImages(result: unknown): {
  images: Array<{ mimeType: string; data: Uint8Array; name: string }>;
  rest: unknown;
} {
  if (!isObject(result) || !Array.isArray(result.images)) return { images: [], rest: result };
  const { images, ...rest } = result;
  const out: Array<{ mimeType: string; data: Uint8Array; name: string }> = [];
  for (const image of images as unknown[]) {
    if (!isObject(image) || typeof image.data_base64 !== "string") continue;
    const mime = typeof image.mime_type === "string" ? image.mime_type : "image/png";
    out.push({ mimeType: mime, data: fromBase64(image.data_base64), name: `figure-${out.length + 1}.png` });
  }
  return { images: out, rest };
}

/** The common fields of pythonExec and terminalExec results, and the whole result as JSON. */
function toRunResult(result: unknown): MessageInitShape<typeof RunResultSchema> {
  const r = isObject(result) ? result : {};
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  return {
    exitCode: typeof r.exit_code === "number" ? r.exit_code : 0,
    stdout: str(r.stdout ?? r.output),
    stderr: str(r.stderr),
    stdoutTruncated: r.stdout_truncated === true || r.output_truncated === true,
    stderrTruncated: r.stderr_truncated === true,
    sessionId: str(r.session_id),
    created: r.created === true,
    resultJson: JSON.stringify(result ?? null),
  };
}
