import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ErrorDetailSchema, ExecService } from "@onlyboxes/proto/exec";

/** Where the console serves its Connect services (same origin: the session cookie authenticates). */
const CONNECT_BASE_URL = "/api/connect";

/**
 * A client of the console's ExecService. Built per use so it picks up the fetch of the
 * moment (tests replace it); the browser sends the dashboard's session cookie, and the
 * Connect-Protocol-Version header the console requires of cookie callers.
 */
export function execClient(): Client<typeof ExecService> {
  const transport = createConnectTransport({
    baseUrl: CONNECT_BASE_URL,
    fetch: (input, init) => globalThis.fetch(input, { ...init, credentials: "same-origin" }),
  });
  return createClient(ExecService, transport);
}

/** The message and Onlyboxes error code of a failed run, whatever was thrown. */
export function runFailure(err: unknown): { message: string; code: string } {
  const e = ConnectError.from(err);
  const code = e.findDetails(ErrorDetailSchema)[0]?.code ?? "";
  return { message: e.rawMessage, code };
}

/**
 * Largest file the Run page uploads: one ExecService.WriteFile message carries it, and the
 * console takes at most 16 MiB that way (less when CONSOLE_FILE_MAX_BYTES is smaller; it
 * says so with `file_too_large`). Checked here so a huge file is not read into memory.
 */
export const WRITE_FILE_MAX_BYTES = 16 * 1024 * 1024;

/** A whole file from one of the account's sessions (ExecService.ReadFile), typed as the console sniffed it. */
export async function readSessionFile(sessionId: string, path: string): Promise<Blob> {
  let type = "application/octet-stream";
  const parts: Uint8Array<ArrayBuffer>[] = [];
  for await (const msg of execClient().readFile({ sessionId, path })) {
    if (msg.piece.case === "info") type = msg.piece.value.mimeType || type;
    else if (msg.piece.case === "data") parts.push(msg.piece.value as Uint8Array<ArrayBuffer>);
  }
  return new Blob(parts, { type });
}
