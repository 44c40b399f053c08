import { readFile } from "node:fs/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ExecService, type RunRequestSchema } from "@onlyboxes/proto/exec";
import { type Command, parseCommand, USAGE, UsageError } from "./args.ts";
import { download, upload } from "./copy.ts";
import { CliError, restClient } from "./rest.ts";
import { EXIT_INTERRUPTED, EXIT_RUN_FAILED, runProgram, type Sinks } from "./run.ts";
import { sessionList, sessionNew, sessionRemove } from "./session.ts";

/** The CLI's version (the bundle replaces this with the package's). */
declare const __ONLYBOXES_CLI_VERSION__: string | undefined;
const VERSION = typeof __ONLYBOXES_CLI_VERSION__ === "string" ? __ONLYBOXES_CLI_VERSION__ : "dev";

const EXIT_USAGE = 2;
/** Exit code of cp and session when the console (or the local side) refused. */
const EXIT_FAILED = 1;

/** Writes to a Node stream and waits when it is full, so a slow pipe slows the copy, not memory. */
function writer(stream: NodeJS.WritableStream): (text: string) => Promise<void> {
  return (text) =>
    new Promise((resolve) => {
      if (stream.write(text)) resolve();
      else stream.once("drain", () => resolve());
    });
}

async function requestFor(cmd: Extract<Command, { kind: "run" | "sh" }>): Promise<MessageInitShape<typeof RunRequestSchema>> {
  const timeoutMs = cmd.timeoutMs ?? 0;
  if (cmd.kind === "sh") {
    return { program: { case: "shell", value: { command: cmd.command, sessionId: cmd.session ?? "" } }, timeoutMs };
  }
  const code = cmd.file === "-" ? await readStdin() : await readFile(cmd.file, "utf8");
  const session = cmd.session ?? "";
  return { program: { case: "python", value: { code, sessionId: session, createIfMissing: session !== "" } }, timeoutMs };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The `onlyboxes` command: parses argv, runs the program, and sets the process's exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const err = writer(process.stderr);
  let cmd: Command;
  try {
    cmd = parseCommand(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    await err(`onlyboxes: ${e.message}\n\n${USAGE}\n`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  if (cmd.kind === "help") {
    await writer(process.stdout)(`${USAGE}\n`);
    return;
  }
  if (cmd.kind === "version") {
    await writer(process.stdout)(`onlyboxes ${VERSION}\n`);
    return;
  }
  const url = process.env.ONLYBOXES_URL?.trim();
  const token = process.env.ONLYBOXES_TOKEN?.trim();
  if (!url || !token) {
    await err("onlyboxes: set ONLYBOXES_URL (the console) and ONLYBOXES_TOKEN (a bearer token) in the environment\n");
    process.exitCode = EXIT_USAGE;
    return;
  }
  if (cmd.kind !== "run" && cmd.kind !== "sh") {
    process.exitCode = await restCommand(cmd, url, token, { stdout: writer(process.stdout), stderr: err });
    return;
  }
  let request: MessageInitShape<typeof RunRequestSchema>;
  try {
    request = await requestFor(cmd);
  } catch (e) {
    await err(`onlyboxes: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = EXIT_RUN_FAILED;
    return;
  }
  const bearer: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  const client = createClient(
    ExecService,
    createConnectTransport({ baseUrl: `${url.replace(/\/+$/, "")}/api/connect`, httpVersion: "1.1", interceptors: [bearer] }),
  );
  // Ctrl-C (or a TERM) closes the stream: the console cancels the program in its sandbox.
  process.exitCode = await untilInterrupted((signal) =>
    runProgram(client, request, { stdout: writer(process.stdout), stderr: err }, signal),
  );
}

/** Runs `work` with a signal that Ctrl-C (SIGINT) or SIGTERM aborts, listening only while it runs. */
async function untilInterrupted<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await work(stop.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** cp and session: plain REST calls with the bearer token; answers the exit code. */
async function restCommand(
  cmd: Exclude<Command, { kind: "run" | "sh" | "help" | "version" }>,
  url: string,
  token: string,
  sinks: Sinks,
): Promise<number> {
  // Ctrl-C aborts the transfer; a download's temporary file is removed on the way out.
  return untilInterrupted(async (signal) => {
    const rest = restClient(url, token, signal);
    try {
      switch (cmd.kind) {
        case "cp":
          if (cmd.to.kind === "remote" && cmd.from.kind === "local") await upload(rest, cmd.from.path, cmd.to, sinks);
          else if (cmd.from.kind === "remote" && cmd.to.kind === "local") await download(rest, cmd.from, cmd.to.path, sinks);
          break;
        case "session-new":
          await sessionNew(rest, cmd.leaseSec, sinks);
          break;
        case "session-ls":
          await sessionList(rest, sinks);
          break;
        case "session-rm":
          await sessionRemove(rest, cmd.sessions, sinks);
          break;
      }
      return 0;
    } catch (e) {
      if (signal.aborted) {
        await sinks.stderr("onlyboxes: stopped\n");
        return EXIT_INTERRUPTED;
      }
      if (!(e instanceof CliError)) throw e;
      await sinks.stderr(`onlyboxes: ${e.message}\n`);
      return EXIT_FAILED;
    }
  });
}
