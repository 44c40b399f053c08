import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { ErrorDetailSchema, type ExecService, OutputStream, type RunRequestSchema } from "@onlyboxes/proto/exec";

/** Where the program's output and the command's own messages go. */
export interface Sinks {
  stdout: (text: string) => void | Promise<void>;
  stderr: (text: string) => void | Promise<void>;
}

/** Exit code when the console could not run the program (like `docker run`). */
export const EXIT_RUN_FAILED = 125;
/** Exit code when the program passed its timeout (like `timeout`). */
export const EXIT_TIMEOUT = 124;
/** Exit code after Ctrl-C stopped the program (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

/**
 * Runs one program through the console's ExecService and copies its output to `sinks`
 * as it arrives. Resolves with the exit code the command should end with: the program's
 * own, or one of the EXIT_* codes (with a message on stderr) when it did not finish.
 */
export async function runProgram(
  client: Client<typeof ExecService>,
  request: MessageInitShape<typeof RunRequestSchema>,
  sinks: Sinks,
  signal?: AbortSignal,
): Promise<number> {
  try {
    for await (const msg of client.run(request, signal ? { signal } : {})) {
      const event = msg.event;
      if (event.case === "output") {
        await (event.value.stream === OutputStream.STDERR ? sinks.stderr : sinks.stdout)(event.value.data);
      } else if (event.case === "image") {
        await sinks.stderr(
          `onlyboxes: the program made an image (${event.value.mimeType}, ${event.value.data.byteLength} bytes)\n`,
        );
      } else if (event.case === "result") {
        const r = event.value;
        if (r.created && r.sessionId) await sinks.stderr(`onlyboxes: session ${r.sessionId}\n`);
        if (r.stdoutTruncated || r.stderrTruncated) await sinks.stderr("onlyboxes: output was cut at the worker's limit\n");
        return r.exitCode;
      }
    }
    await sinks.stderr("onlyboxes: the console ended the stream without a result\n");
    return EXIT_RUN_FAILED;
  } catch (err) {
    if (signal?.aborted) {
      await sinks.stderr("onlyboxes: stopped\n");
      return EXIT_INTERRUPTED;
    }
    const e = ConnectError.from(err);
    const code = e.findDetails(ErrorDetailSchema)[0]?.code ?? Code[e.code];
    await sinks.stderr(`onlyboxes: ${e.rawMessage} (${code})\n`);
    return e.code === Code.DeadlineExceeded ? EXIT_TIMEOUT : EXIT_RUN_FAILED;
  }
}
