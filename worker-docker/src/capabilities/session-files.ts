import { randomBytes } from "node:crypto";
import {
  FILE_CHUNK_BYTES,
  FILE_LIST_MAX_ENTRIES,
  type FileEntry,
  type FileListResult,
  type FileReadResult,
  type FileWriteResult,
  SESSION_FILES_CAPABILITY,
  type SessionEndResult,
  sessionFilesPayload,
} from "@onlyboxes/proto";
import type { ExecStream } from "../docker/container-client.ts";
import { engineMessage } from "../docker/docker-container-client.ts";
import { SNIFF_BYTES, sniffMimeType } from "../docker/mime-sniff.ts";
import { BoundedBuffer } from "../docker/output-collector.ts";
import { readPayload } from "../docker/payload-fields.ts";
import { abortFailure, raceAbort, runSignal } from "../docker/run-signal.ts";
import type { ShellSession } from "../docker/shell-session.ts";
import { pathFailure } from "./path-failure.ts";
import { SessionCapability } from "./session-capability.ts";
import { type CommandContext, CommandFailure } from "./types.ts";

/*
 * Every script runs inside the session container as the sandbox user (docker exec with
 * its uid), so paths and symlinks resolve in the container's filesystem, never the host's,
 * and the user's permissions apply. Relative paths resolve against /workspace, the exec's
 * working directory. Exit codes: 3 missing, 4 directory (or not one, for a listing),
 * 5 not a regular file, 6 unreadable; other failures print the reason on stderr.
 */

/** Opens the upload's temporary file beside the target (same directory: the rename is atomic) and fills it from stdin. */
const WRITE_SCRIPT = `p=$1 t=$2
case $p in */) exit 4;; esac
d=$(dirname -- "$p")
mkdir -p -- "$d" || exit 1
[ -d "$p" ] && exit 4
exec cat > "$d/$t"`;

/** Puts the finished upload in place and prints its size. */
const COMMIT_SCRIPT = `p=$1 t=$2
d=$(dirname -- "$p")
[ -d "$p" ] && { rm -f -- "$d/$t"; exit 4; }
mv -f -- "$d/$t" "$p" || { rm -f -- "$d/$t"; exit 1; }
wc -c < "$p"`;

/** Removes an abandoned upload's temporary file. */
const DISCARD_SCRIPT = `d=$(dirname -- "$1"); rm -f -- "$d/$2"`;

const STAT_SCRIPT = `p=$1
[ -e "$p" ] || exit 3
[ -d "$p" ] && exit 4
[ -f "$p" ] || exit 5
[ -r "$p" ] || exit 6
wc -c < "$p"`;

const DELETE_SCRIPT = `p=$1
[ -e "$p" ] || [ -L "$p" ] || exit 3
[ -d "$p" ] && [ ! -L "$p" ] && exit 4
rm -f -- "$p"`;

/** name, type letter, size, mtime (seconds.fraction), each NUL-terminated. */
const LIST_SCRIPT = `p=$1
[ -e "$p" ] || exit 3
[ -d "$p" ] || exit 4
[ -r "$p" ] && [ -x "$p" ] || exit 6
find "$p/" -mindepth 1 -maxdepth 1 -printf '%f\\0%y\\0%s\\0%T@\\0' | head -z -n ${FILE_LIST_MAX_ENTRIES * 4}`;

const TYPE_OF: Record<string, FileEntry["type"]> = { f: "file", d: "dir", l: "symlink" };

/**
 * sessionFiles: writes (streamed in from the console), reads (streamed out), deletes and
 * lists files in a terminal session's container, and ends a session (its container goes).
 * An upload lands in a temporary file renamed into place only once every byte arrived, so
 * a failed or abandoned upload leaves nothing half-written.
 */
export class SessionFiles extends SessionCapability {
  readonly name = SESSION_FILES_CAPABILITY;

  async run(payload: unknown, ctx: CommandContext): Promise<unknown> {
    const p = readPayload(sessionFilesPayload, payload);
    if (p.op === "end_session") {
      const had = this.sessions.find(p.session_id) !== undefined;
      await this.sessions.drop(p.session_id);
      return { ended: had } satisfies SessionEndResult;
    }
    const { signal } = runSignal(ctx);
    const { session } = await this.sessions.acquire(p.session_id, false, signal);
    try {
      switch (p.op) {
        case "write":
          return await this.write(session, p.path, Math.min(p.max_bytes, this.config.fileMaxBytes), ctx, signal);
        case "read":
          return await this.read(session, p.path, Math.min(p.max_bytes, this.config.fileMaxBytes), ctx, signal);
        case "delete": {
          const r = await this.script(session, DELETE_SCRIPT, [p.path], signal);
          this.check(r, p.path);
          return { path: p.path };
        }
        case "list":
          return await this.list(session, p.path, signal);
      }
    } catch (err) {
      // The container went away under the command (the session was ended meanwhile).
      if (!session.alive || this.sessions.find(p.session_id) === undefined) {
        throw new CommandFailure("session_not_found", "the session ended during the file operation");
      }
      throw err;
    } finally {
      this.sessions.release(session);
    }
  }

  private async write(
    session: ShellSession,
    path: string,
    maxBytes: number,
    ctx: CommandContext,
    signal: AbortSignal,
  ): Promise<FileWriteResult> {
    if (!ctx.fileIn) throw new CommandFailure("invalid_argument", "a write needs the file's pieces");
    const tmp = `.onlyboxes-upload-${randomBytes(8).toString("hex")}`;
    const err = new BoundedBuffer(4096);
    let exec: ExecStream;
    try {
      exec = await this.client.execStream(
        session.containerId,
        { cmd: ["sh", "-c", WRITE_SCRIPT, "sh", path, tmp], user: this.config.limits.user },
        (stream, data) => {
          if (stream === "stderr") err.append(data);
        },
      );
    } catch (e) {
      throw new CommandFailure("worker_error", `could not write ${path}: ${engineMessage(e)}`);
    }
    let committed = false;
    try {
      // The command may end early (a path it cannot write): stop feeding it then.
      const ended = exec.exitCode.then((code) => ({ code }));
      let size = 0;
      for await (const piece of ctx.fileIn(signal)) {
        size += piece.byteLength;
        if (size > maxBytes) throw new CommandFailure("file_too_large", `the file is larger than the limit of ${maxBytes} bytes`);
        const wrote = await Promise.race([exec.write(piece).then(() => null), ended]);
        if (wrote !== null) break;
      }
      exec.end();
      const code = await raceAbort(exec.exitCode, signal);
      this.check({ code, stderr: err.bytes() }, path);
      const done = await this.script(session, COMMIT_SCRIPT, [path, tmp], signal);
      this.check(done, path);
      committed = true;
      return { path, size: Number.parseInt(done.stdout.toString("utf8").trim(), 10) || 0 };
    } catch (e) {
      if (signal.aborted) throw abortFailure(signal.reason);
      throw e;
    } finally {
      exec.destroy();
      if (!committed && session.alive) {
        // In the background, on its own signal (the command's may be why we are here), so the
        // session is free again the moment the failure is answered; removing a file the next
        // command cannot see under its final name races with nothing.
        void this.script(session, DISCARD_SCRIPT, [path, tmp], AbortSignal.timeout(10_000)).catch(() => {});
      }
    }
  }

  private async read(
    session: ShellSession,
    path: string,
    maxBytes: number,
    ctx: CommandContext,
    signal: AbortSignal,
  ): Promise<FileReadResult> {
    const send = ctx.sendFile;
    if (!send) throw new CommandFailure("invalid_argument", "a read needs a way to send the file");
    const stat = await this.script(session, STAT_SCRIPT, [path], signal);
    this.check(stat, path);
    const total = Number.parseInt(stat.stdout.toString("utf8").trim(), 10) || 0;
    if (total > maxBytes) {
      throw new CommandFailure("file_too_large", `the file is ${total} bytes, above the limit of ${maxBytes} bytes`);
    }

    const err = new BoundedBuffer(4096);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let sent = 0;
    let mimeType: string | null = null;
    let chain: Promise<void> = Promise.resolve();
    let exec: ExecStream | null = null;
    const emit = (data: Buffer, last: boolean): Promise<void> => {
      const first = mimeType === null;
      if (first) mimeType = sniffMimeType(path, data.subarray(0, SNIFF_BYTES));
      sent += data.byteLength;
      return send({ data, last, ...(first ? { totalSize: total, mimeType: mimeType ?? "" } : {}) }, signal);
    };
    const take = (): Buffer => {
      const buf = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      return buf;
    };
    try {
      exec = await this.client.execStream(
        session.containerId,
        { cmd: ["cat", "--", path], user: this.config.limits.user },
        (stream, data) => {
          if (stream === "stderr") {
            err.append(data);
            return;
          }
          // Never more than announced: a file that grew meanwhile is cut at its announced size.
          const room = total - sent - pendingBytes;
          if (room <= 0) return;
          const piece = data.byteLength > room ? data.subarray(0, room) : data;
          pending.push(Buffer.from(piece));
          pendingBytes += piece.byteLength;
          if (pendingBytes < FILE_CHUNK_BYTES) return;
          // Hold the output until the console has room for this piece.
          const full = take();
          const running = exec;
          running?.pause();
          chain = chain.then(() => emit(full, false)).then(() => running?.resume());
        },
      );
    } catch (e) {
      throw new CommandFailure("worker_error", `could not read ${path}: ${engineMessage(e)}`);
    }
    try {
      exec.end();
      const code = await raceAbort(exec.exitCode, signal);
      await raceAbort(chain, signal);
      if (code !== 0) {
        const why = err.bytes().toString("utf8").trim();
        throw new CommandFailure("file_not_found", `could not read ${path}${why ? `: ${why}` : ""}`);
      }
      await emit(take(), true);
      return { path, size: sent, mime_type: mimeType ?? "application/octet-stream" };
    } finally {
      exec.destroy();
    }
  }

  private async list(session: ShellSession, path: string, signal: AbortSignal): Promise<FileListResult> {
    const r = await this.script(session, LIST_SCRIPT, [path], signal, 4 * 1024 * 1024);
    if (r.code === 4) throw new CommandFailure("invalid_argument", `not a directory: ${path}`);
    this.check(r, path);
    const fields = r.stdout.toString("utf8").split("\0");
    const entries: FileEntry[] = [];
    for (let i = 0; i + 3 < fields.length; i += 4) {
      entries.push({
        name: fields[i] ?? "",
        type: TYPE_OF[fields[i + 1] ?? ""] ?? "other",
        size: Number(fields[i + 2]) || 0,
        mtime: Math.round(Number(fields[i + 3]) * 1000) || 0,
      });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { path, entries };
  }

  /** Runs a small script as the sandbox user and collects its (bounded) output. */
  private async script(
    session: ShellSession,
    script: string,
    args: string[],
    signal: AbortSignal,
    stdoutBytes = 4096,
  ): Promise<{ code: number; stdout: Buffer; stderr: Buffer }> {
    const out = new BoundedBuffer(stdoutBytes);
    const err = new BoundedBuffer(4096);
    try {
      const code = await raceAbort(
        this.client.exec(
          session.containerId,
          { cmd: ["sh", "-c", script, "sh", ...args], user: this.config.limits.user },
          (stream, data) => (stream === "stdout" ? out.append(data) : err.append(data)),
        ),
        signal,
      );
      return { code, stdout: out.bytes(), stderr: err.bytes() };
    } catch (e) {
      if (e instanceof CommandFailure) throw e;
      throw new CommandFailure("worker_error", `file operation failed: ${engineMessage(e)}`);
    }
  }

  /** Turns a script's exit into the registry's answer. */
  private check(r: { code: number; stderr: Buffer }, path: string): void {
    if (r.code === 0) return;
    const failure = pathFailure(r.code, path);
    if (failure) throw failure;
    const why = r.stderr.toString("utf8").trim();
    if (/no space left/i.test(why)) throw new CommandFailure("disk_full", `no space left to write ${path}`);
    if (/file too large/i.test(why)) throw new CommandFailure("file_too_large", `the file is too large for the sandbox: ${path}`);
    throw new CommandFailure("invalid_argument", `cannot access ${path}${why ? `: ${why}` : ""}`);
  }
}
