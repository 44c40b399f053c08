import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ErrorDetailSchema, ExecService } from "@onlyboxes/proto/exec";

/** Where the console serves its Connect services (same origin: the session cookie authenticates). */
export const CONNECT_BASE_URL = "/api/connect";

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
