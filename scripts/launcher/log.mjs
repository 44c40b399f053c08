// The launcher's structured log lines (stderr, one JSON object a line) and its one error type.

/** Writes one structured log line to stderr. */
export function log(msg, fields = {}, level = "info") {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, component: "launcher", msg, ...fields })}\n`);
}

/** A start-up problem the operator must fix; its message is printed as is. */
export class LauncherError extends Error {
  name = "LauncherError";
}

/** The error of a console runtime that could not start on `host:port`, for `cause`. */
export function consoleStartError(host, port, cause) {
  return new LauncherError(
    `the console could not start on ${host}:${port}: ${cause instanceof Error ? cause.message : String(cause)}`,
  );
}
