import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { EXEC_TIMEOUT_MS, RETRYABLE_CODES } from "@onlyboxes/proto";
import { AppError, type ErrorCode } from "../lib/errors.ts";

/** What the failed call was about, so the advice can name it. */
export interface FailureContext {
  tool: string;
  timeoutMs?: number;
  sessionId?: string;
  filePath?: string;
}

/** Advice an LLM can act on, per error code; the code and the console's message are shown too. */
function adviceFor(code: ErrorCode, ctx: FailureContext): string {
  switch (code) {
    case "no_worker":
      return `No sandbox worker that can run ${ctx.tool} is online. Retrying will not help until an operator starts a worker; tell the user.`;
    case "no_capacity":
      return "Every sandbox worker is busy right now. Wait a few seconds and retry the same call.";
    case "account_run_limit":
      return "This account already has as many fresh pythonExec runs going as it may. Wait for one of them to finish, then retry; commands in a session are not limited this way.";
    case "account_session_limit":
      return "This account already has as many open sessions as it may. Reuse an existing session_id, or wait for an idle one's lease to end.";
    case "deadline_exceeded":
      return ctx.tool === "terminalExec"
        ? `The command did not finish within ${ctx.timeoutMs ?? "the"} ms and was killed; its session was deleted. Start a new session, and make the command faster or raise timeout_ms (max ${EXEC_TIMEOUT_MS.max}).`
        : `The call did not finish within ${ctx.timeoutMs ?? "the"} ms and was stopped. Make the code faster (or print progress and stop earlier), or raise timeout_ms (max ${EXEC_TIMEOUT_MS.max}).`;
    case "session_not_found":
      return `Session ${ctx.sessionId ?? ""} does not exist or has expired (sessions end after their lease or a timeout). Omit session_id to start a new session, or pass create_if_missing: true.`;
    case "session_busy":
      return `Session ${ctx.sessionId ?? ""} is still running another command. Wait for that call to finish, then retry; sessions run one command at a time.`;
    case "file_not_found":
      return `There is no file at ${ctx.filePath ?? "that path"} in the session. Check the path, e.g. with terminalExec running \`ls -la\`.`;
    case "path_is_directory":
      return `${ctx.filePath ?? "The path"} is a directory; give the path of a file inside it.`;
    case "file_too_large":
    case "payload_too_large":
      if (ctx.tool !== "readImage") {
        return "The file is larger than the sandbox moves in one piece. Split or compress it (e.g. with terminalExec), or work on it inside the session.";
      }
      return "The file is larger than the worker's read limit (1 MiB by default). Save a smaller version (lower resolution, or JPEG) and read that.";
    case "worker_shutdown":
      return "The worker was shutting down and did not run the call. Retry the same call; another worker (or the restarted one) will take it.";
    case "worker_disconnected":
      return "The worker running the call disconnected before answering, so the result is lost. Retry the call.";
    case "canceled":
      return "The call was canceled before it finished.";
    case "invalid_argument":
      return "Fix the arguments and call again.";
    default:
      return RETRYABLE_CODES.has(code)
        ? "The sandbox cannot take the call right now. Wait a few seconds and retry the same call."
        : "The sandbox failed to run the call. Retry once; if it fails again, tell the user.";
  }
}

/** Turns an execution failure into a tool result with `isError: true` (never a JSON-RPC error). */
export function toolFailure(err: unknown, ctx: FailureContext): CallToolResult {
  const e = AppError.from(err);
  const text = `${ctx.tool} failed: ${e.code}: ${e.message}. ${adviceFor(e.code, ctx)}`;
  return { isError: true, content: [{ type: "text", text }] };
}
