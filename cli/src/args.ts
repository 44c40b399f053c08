import { parseArgs } from "node:util";

/** What the command line asks for. */
export type Command =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "run"; file: string; session?: string; timeoutMs?: number }
  | { kind: "sh"; command: string; session?: string; timeoutMs?: number }
  | { kind: "cp"; from: Place; to: Place }
  | { kind: "session-new"; leaseSec?: number }
  | { kind: "session-ls" }
  | { kind: "session-rm"; sessions: string[] };

/** One side of a copy: a local path (`-` is stdin/stdout), or a path in a session's container. */
export type Place = { kind: "local"; path: string } | { kind: "remote"; session: string; path: string };

/** A command line that cannot be run: the message says what to fix. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export const USAGE = `Usage:
  onlyboxes run [--session ID] [--timeout MS] FILE   run a Python file (- reads stdin)
  onlyboxes sh  [--session ID] [--timeout MS] 'CMD'  run a shell command line in a session
  onlyboxes cp FILE SESSION:[PATH]                   upload a file into a session
  onlyboxes cp SESSION:PATH [LOCAL]                  download a file from a session
  onlyboxes session new [--lease SEC]                start a session; prints its id
  onlyboxes session ls                               list this token's live sessions
  onlyboxes session rm ID...                         end sessions
  onlyboxes --help | --version

Environment:
  ONLYBOXES_URL    the console, e.g. http://127.0.0.1:8089
  ONLYBOXES_TOKEN  a bearer token from the dashboard's Tokens page

Output streams live; the exit code is the program's. Ctrl-C stops the program.
Without --session, sh starts a new session and prints its id on stderr.

cp: SESSION:PATH is relative to /workspace, the session's working directory. An empty
PATH or one ending in / keeps the file's base name (SESSION: copies into /workspace);
LOCAL defaults to the current directory; - reads stdin or writes stdout. cp and session
end with 0 when done and 1 when the console refused (its message on stderr).`;

/** Reads the command line (without `node` and the script). Throws UsageError when it cannot. */
export function parseCommand(argv: readonly string[]): Command {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const [verb, ...rest] = positionals;
  if (verb === undefined) throw new UsageError("missing command: run, sh, cp or session");
  if (verb === "help") return { kind: "help" };
  if (verb === "cp" || verb === "session") {
    const stray = (["session", "timeout"] as const).find((k) => values[k] !== undefined);
    if (stray) throw new UsageError(`${verb}: --${stray} is for run and sh`);
  }
  if (verb !== "session" && values.lease !== undefined) throw new UsageError("--lease is for session new");
  const timeoutMs = values.timeout === undefined ? undefined : positiveWhole(values.timeout, "--timeout", "milliseconds");
  const options = {
    ...(values.session !== undefined ? { session: nonEmpty(values.session, "--session") } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  };
  switch (verb) {
    case "run": {
      const [file, ...extra] = rest;
      if (file === undefined) throw new UsageError("run: missing the Python file (or - for stdin)");
      if (extra.length > 0) throw new UsageError(`run: unexpected arguments: ${extra.join(" ")}`);
      return { kind: "run", file, ...options };
    }
    case "sh": {
      if (rest.length === 0) throw new UsageError("sh: missing the command line");
      // Several words are joined with spaces (options among them need a -- before them).
      return { kind: "sh", command: nonEmpty(rest.join(" "), "sh: the command line"), ...options };
    }
    case "cp":
      return parseCopy(rest);
    case "session":
      return parseSession(rest, values.lease);
    default:
      throw new UsageError(`unknown command: ${verb} (expected run, sh, cp or session)`);
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      session: { type: "string", short: "s" },
      timeout: { type: "string", short: "t" },
      lease: { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
}

/**
 * Reads one side of a copy. `SESSION:PATH` is remote when the part before the first colon
 * has no slash (like scp); a local name with a colon is written `./name:x`.
 */
function parsePlace(arg: string): Place {
  const colon = arg.indexOf(":");
  if (colon < 0 || arg.slice(0, colon).includes("/")) return { kind: "local", path: arg };
  const session = arg.slice(0, colon);
  if (session === "") throw new UsageError(`cp: ${arg}: the session id before the colon is missing`);
  if (!/^[\x21-\x7e]+$/.test(session))
    throw new UsageError(
      `cp: ${arg}: a session id is printable ASCII without spaces (write a local name with a colon as ./NAME)`,
    );
  return { kind: "remote", session, path: arg.slice(colon + 1) };
}

function parseCopy(args: readonly string[]): Command {
  if (args.length === 0 || args.length > 2) {
    throw new UsageError("cp: give a source and a target: cp FILE SESSION:[PATH] or cp SESSION:PATH [LOCAL]");
  }
  const [first = "", second] = args;
  const from = parsePlace(nonEmpty(first, "cp: the source"));
  if (second === undefined) {
    // Only a download has a default target: the current directory.
    if (from.kind === "local") throw new UsageError(`cp: where to? give a target like SESSION: after ${first}`);
    return { kind: "cp", from, to: { kind: "local", path: "." } };
  }
  const to = parsePlace(nonEmpty(second, "cp: the target"));
  if (from.kind === to.kind) {
    throw new UsageError(
      from.kind === "local"
        ? "cp: one side must be in a session (SESSION:PATH); for a local copy use cp itself"
        : "cp: one side must be local; copying between sessions is not supported",
    );
  }
  if (from.kind === "remote" && (from.path === "" || from.path.endsWith("/"))) {
    throw new UsageError(`cp: ${first}: name a file in the session, not a directory`);
  }
  if (to.kind === "remote" && first === "-" && (to.path === "" || to.path.endsWith("/"))) {
    throw new UsageError("cp: stdin has no name: give the file's path in the session (SESSION:PATH)");
  }
  return { kind: "cp", from, to };
}

function parseSession(args: readonly string[], lease: string | undefined): Command {
  const [sub, ...ids] = args;
  if (sub !== "new" && lease !== undefined) throw new UsageError("--lease is for session new");
  switch (sub) {
    case "new":
      if (ids.length > 0) throw new UsageError(`session new: unexpected arguments: ${ids.join(" ")}`);
      return lease === undefined
        ? { kind: "session-new" }
        : { kind: "session-new", leaseSec: positiveWhole(lease, "--lease", "seconds") };
    case "ls":
      if (ids.length > 0) throw new UsageError(`session ls: unexpected arguments: ${ids.join(" ")}`);
      return { kind: "session-ls" };
    case "rm":
      if (ids.length === 0) throw new UsageError("session rm: give the id of the session to end");
      return { kind: "session-rm", sessions: ids.map((id) => nonEmpty(id, "session rm: a session id")) };
    case undefined:
      throw new UsageError("session: missing subcommand: new, ls or rm");
    default:
      throw new UsageError(`session: unknown subcommand: ${sub} (expected new, ls or rm)`);
  }
}

function positiveWhole(raw: string, flag: string, unit: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive whole number of ${unit}, not ${raw}`);
  return n;
}

function nonEmpty(value: string, what: string): string {
  if (value.trim() === "") throw new UsageError(`${what} must not be empty`);
  return value;
}
