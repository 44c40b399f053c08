import { type TerminalResourceResult, terminalResourcePayload } from "@onlyboxes/proto";
import { engineMessage } from "../docker/docker-container-client.ts";
import { SNIFF_BYTES, sniffMimeType } from "../docker/mime-sniff.ts";
import { BoundedBuffer } from "../docker/output-collector.ts";
import { readPayload } from "../docker/payload-fields.ts";
import { raceAbort, runSignal } from "../docker/run-signal.ts";
import { pathFailure } from "./path-failure.ts";
import { SessionCapability } from "./session-capability.ts";
import { type CommandContext, CommandFailure } from "./types.ts";

/**
 * Runs inside the session container as the sandbox user, so paths (and symlinks) resolve
 * in the container's filesystem, never the host's, and file permissions apply. Exit codes:
 * 3 missing, 4 directory, 5 not a regular file, 6 unreadable, 7 too large. The size goes
 * on stderr, the content (or its head) on stdout.
 */
const READ_SCRIPT = `p=$1 limit=$2 action=$3
[ -e "$p" ] || exit 3
[ -d "$p" ] && exit 4
[ -f "$p" ] || exit 5
[ -r "$p" ] || exit 6
size=$(wc -c < "$p") || exit 6
size=$((size))
printf '%s\\n' "$size" >&2
if [ "$action" = read ]; then
  [ "$size" -le "$limit" ] || exit 7
  exec cat -- "$p"
fi
exec head -c ${SNIFF_BYTES} -- "$p"`;

/**
 * terminalResource: `{session_id, file_path, action: validate|read}` → type and size of a
 * file in a session, plus its content (base64) for `read`, up to the output limit.
 */
export class TerminalResource extends SessionCapability {
  readonly name = "terminalResource";

  async run(payload: unknown, ctx: CommandContext): Promise<TerminalResourceResult> {
    const {
      session_id: sessionId,
      file_path: filePath,
      action,
      timeout_ms: timeoutMs,
    } = readPayload(terminalResourcePayload, payload);
    const session = this.sessions.find(sessionId);
    if (!session) throw new CommandFailure("session_not_found", `session ${sessionId} not found`);
    const limit = this.config.outputLimitBytes;
    const content = new BoundedBuffer(action === "read" ? limit : SNIFF_BYTES);
    const meta = new BoundedBuffer(256);
    const { signal } = runSignal(ctx, timeoutMs);
    let code: number;
    try {
      code = await raceAbort(
        this.client.exec(
          session.containerId,
          { cmd: ["sh", "-c", READ_SCRIPT, "sh", filePath, String(limit), action], user: this.config.limits.user },
          (stream, data) => (stream === "stdout" ? content.append(data) : meta.append(data)),
        ),
        signal,
      );
    } catch (err) {
      if (err instanceof CommandFailure) throw err;
      throw new CommandFailure("worker_error", `could not read ${filePath}: ${engineMessage(err)}`);
    }
    const size = Number.parseInt(meta.bytes().toString("utf8").split("\n")[0] ?? "", 10);
    if (code !== 0) {
      const failure = pathFailure(code, filePath);
      if (failure) throw failure;
      if (code === 7) throw new CommandFailure("file_too_large", `file is ${size} bytes, above the limit of ${limit} bytes`);
      throw new CommandFailure("worker_error", `reading ${filePath} failed (exit ${code})`);
    }
    // The file grew between the size check and the read.
    if (action === "read" && content.truncated) {
      throw new CommandFailure("file_too_large", `file is above the limit of ${limit} bytes`);
    }
    const bytes = content.bytes();
    const result: TerminalResourceResult = {
      session_id: sessionId,
      file_path: filePath,
      mime_type: sniffMimeType(filePath, bytes.subarray(0, SNIFF_BYTES)),
      size_bytes: action === "read" ? bytes.length : Number.isFinite(size) ? size : 0,
    };
    if (action === "read") result.blob = bytes.toString("base64");
    return result;
  }
}
