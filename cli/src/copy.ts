import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import type { FileWriteResult } from "@onlyboxes/proto/contracts";
import type { Place } from "./args.ts";
import { CliError, type RestClient } from "./rest.ts";
import type { Sinks } from "./run.ts";

type Remote = Extract<Place, { kind: "remote" }>;

/** Where an upload lands in the session: an empty path or one ending in / keeps the local file's base name. */
export function remoteTarget(localPath: string, remotePath: string): string {
  if (remotePath !== "" && !remotePath.endsWith("/")) return remotePath;
  return `${remotePath}${path.basename(localPath)}`;
}

/** Where a download lands: inside `local` when it is a directory (or ends in a slash), else at `local` itself. */
export function localTarget(remotePath: string, local: string, localIsDir: boolean): string {
  if (localIsDir || local.endsWith("/") || local.endsWith(path.sep)) return path.join(local, path.posix.basename(remotePath));
  return local;
}

function filesPath(session: string): string {
  return `/sessions/${encodeURIComponent(session)}/files`;
}

/** Streams a local file (or stdin for `-`) into a session's container through `PUT …/files`. */
export async function upload(rest: RestClient, local: string, to: Remote, sinks: Sinks): Promise<void> {
  let body: Readable = process.stdin;
  let length: number | undefined;
  if (local !== "-") {
    const st = await stat(local).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(err.code === "ENOENT" ? `${local}: no such file` : `${local}: ${err.message}`);
    });
    if (!st.isFile()) throw new CliError(`${local}: not a regular file (cp copies one file)`);
    // The declared length lets the console refuse a file over its limit before any byte moves.
    length = st.size;
    body = createReadStream(local);
  }
  const target = remoteTarget(local, to.path);
  const res = await rest.call(filesPath(to.session), {
    query: { path: target },
    upload: length === undefined ? { body } : { body, length },
  });
  const written = (await res.json()) as FileWriteResult;
  await sinks.stderr(`onlyboxes: ${to.session}:${written.path} (${written.size} bytes)\n`);
}

/**
 * Streams a file of a session's container to `local` (stdout for `-`). A file is written
 * under a temporary name beside its target and renamed when complete, so a failed copy
 * leaves nothing behind and never half-overwrites an existing file.
 */
export async function download(rest: RestClient, from: Remote, local: string, sinks: Sinks): Promise<void> {
  if (local === "-") {
    // The process owns stdout: the copy writes to it but never ends it.
    await receive(await fetchFile(rest, from), from, process.stdout, false);
    return;
  }
  const isDir = await stat(local).then(
    (s) => s.isDirectory(),
    () => false,
  );
  const target = localTarget(from.path, local, isDir);
  const dir = path.dirname(target);
  const dirOk = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!dirOk) throw new CliError(`${dir}: no such directory`);
  const res = await fetchFile(rest, from);
  const expected = Number(res.headers.get("content-length") ?? Number.NaN);
  const temp = path.join(dir, `.${path.basename(target)}.${randomBytes(4).toString("hex")}.part`);
  try {
    await receive(res, from, createWriteStream(temp, { flags: "wx" }), true);
    const got = (await stat(temp)).size;
    if (Number.isFinite(expected) && got !== expected) {
      throw new CliError(`the download of ${from.session}:${from.path} was cut short: ${got} of ${expected} bytes`);
    }
    await rename(temp, target);
    await sinks.stderr(`onlyboxes: ${target} (${got} bytes)\n`);
  } finally {
    await rm(temp, { force: true });
  }
}

function fetchFile(rest: RestClient, from: Remote): Promise<Response> {
  return rest.call(filesPath(from.session), { query: { path: from.path } });
}

/** Streams a download's body into `to`; a broken stream becomes a CliError naming the remote file. */
async function receive(res: Response, from: Remote, to: NodeJS.WritableStream, end: boolean): Promise<void> {
  try {
    await pipeline(fromWeb(res), to, { end });
  } catch (err) {
    throw new CliError(`the download of ${from.session}:${from.path} broke off: ${(err as Error).message}`);
  }
}

function fromWeb(res: Response): Readable {
  if (!res.body) return Readable.from([]);
  return Readable.fromWeb(res.body as unknown as NodeReadableStream<Uint8Array>);
}
