import { parseArgs } from "node:util";

/** What the command line asks for. */
export type Command =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "run"; file: string; session?: string; timeoutMs?: number }
  | { kind: "sh"; command: string; session?: string; timeoutMs?: number };

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
  onlyboxes --help | --version

Environment:
  ONLYBOXES_URL    the console, e.g. http://127.0.0.1:8089
  ONLYBOXES_TOKEN  a bearer token from the dashboard's Tokens page

Output streams live; the exit code is the program's. Ctrl-C stops the program.
Without --session, sh starts a new session and prints its id on stderr.`;

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
  if (verb === undefined) throw new UsageError("missing command: run or sh");
  if (verb === "help") return { kind: "help" };
  const timeoutMs = values.timeout === undefined ? undefined : parseTimeout(values.timeout);
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
    default:
      throw new UsageError(`unknown command: ${verb} (expected run or sh)`);
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
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
}

function parseTimeout(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--timeout must be a positive whole number of milliseconds, not ${raw}`);
  return n;
}

function nonEmpty(value: string, what: string): string {
  if (value.trim() === "") throw new UsageError(`${what} must not be empty`);
  return value;
}
