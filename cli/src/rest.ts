import type { Readable } from "node:stream";
import type { ErrorBody } from "@onlyboxes/proto/contracts";
import { putStream } from "./put-stream.ts";

/** A failure the command reports in one line and ends with a non-zero exit code. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

/** Options of one REST call: a JSON body, or a streamed upload (a PUT; its length declared when known). */
export interface RestInit {
  method?: string;
  query?: Record<string, string>;
  json?: unknown;
  upload?: { body: Readable; length?: number };
}

/** The console's REST API (`/api/v1`) as the bearer of a token. */
export interface RestClient {
  /** Answers the response when its status is 2xx; otherwise throws a CliError with the console's message and code. */
  call(path: string, init?: RestInit): Promise<Response>;
}

/** A REST client of the console at `baseUrl`; `signal` (Ctrl-C) aborts every call and the bodies still streaming. */
export function restClient(baseUrl: string, token: string, signal?: AbortSignal): RestClient {
  const root = `${baseUrl.replace(/\/+$/, "")}/api/v1`;
  return {
    async call(path, init = {}) {
      const url = new URL(`${root}${path}`);
      for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      let res: Response;
      try {
        if (init.upload !== undefined) {
          headers["content-type"] = "application/octet-stream";
          res = await putStream(url, headers, init.upload.body, init.upload.length, signal);
        } else {
          if (init.json !== undefined) headers["content-type"] = "application/json";
          const body = init.json === undefined ? undefined : JSON.stringify(init.json);
          res = await fetch(url, { method: init.method ?? "GET", headers, body, signal });
        }
      } catch (err) {
        throw new CliError(`cannot reach the console at ${baseUrl}: ${causeOf(err)}`);
      }
      if (res.ok) return res;
      throw new CliError(await errorMessage(res));
    },
  };
}

/** `message (code)` from a REST error body, or the HTTP status when the body is not one. */
async function errorMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    if (typeof body.error === "string" && typeof body.code === "string") return `${body.error} (${body.code})`;
  } catch {
    // Not JSON: a proxy's page, say; the status says enough.
  }
  return `the console answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
}

function causeOf(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  if (cause instanceof Error) return (cause as NodeJS.ErrnoException).code ?? cause.message;
  return String(cause);
}
