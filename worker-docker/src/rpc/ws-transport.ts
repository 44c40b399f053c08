import {
  create,
  type DescMessage,
  type DescMethodStreaming,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError, type StreamResponse, type Transport } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import WebSocket from "ws";
import { AsyncQueue } from "./async-queue.ts";

const FLAG_END_STREAM = 0x02;

function envelope(flags: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = flags;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

export interface WebSocketTransportOptions {
  /** Console base URL, http(s):// or ws(s)://; the stream opens at `<base>/rpc/<service>/<method>`. */
  baseUrl: string;
  /** Headers sent with the upgrade request (credentials). */
  headers?: Record<string, string>;
  /** Time allowed for the upgrade to complete. */
  connectTimeoutMs?: number;
}

/** Turns a ws close code/trailer into the ConnectError the caller sees. */
function trailerError(payload: Uint8Array): ConnectError | null {
  try {
    const trailer = JSON.parse(Buffer.from(payload).toString("utf8")) as { error?: { code?: string; message?: string } };
    if (!trailer.error) return null;
    const code = codeFromString(trailer.error.code ?? "") ?? Code.Unknown;
    return new ConnectError(trailer.error.message ?? "stream ended with an error", code);
  } catch {
    return new ConnectError("stream ended with a malformed trailer", Code.Internal);
  }
}

/**
 * A connect-es Transport whose streams run over one WebSocket each, one Connect
 * envelope per binary message (fetch cannot stream a request body in Node, so bidi
 * Connect over HTTP/1.1 is not possible; WebSocket is). Unary calls are not supported.
 */
export function createWebSocketTransport(options: WebSocketTransportOptions): Transport {
  const base = options.baseUrl.replace(/^http/, "ws").replace(/\/+$/, "");
  return {
    unary() {
      return Promise.reject(new ConnectError("unary calls are not supported over the WebSocket transport", Code.Unimplemented));
    },
    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      _timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
    ): Promise<StreamResponse<I, O>> {
      const url = `${base}/rpc/${method.parent.typeName}/${method.name}`;
      const headers: Record<string, string> = { ...options.headers };
      new Headers(header).forEach((v, k) => {
        headers[k] = v;
      });
      const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: options.connectTimeoutMs ?? 10_000 });
      const out = new AsyncQueue<MessageShape<O>>();

      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          ws.terminate();
          reject(new ConnectError("connection aborted", Code.Canceled));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        ws.once("open", () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        });
        ws.once("unexpected-response", (_req, res) => {
          signal?.removeEventListener("abort", onAbort);
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            if (body.length < 4096) body += d;
          });
          res.on("end", () => {
            let msg = body;
            try {
              msg = (JSON.parse(body) as { error?: string }).error ?? body;
            } catch {
              // keep the raw body
            }
            const status = res.statusCode ?? 0;
            const code =
              status === 401 || status === 403 ? Code.Unauthenticated : status === 404 ? Code.NotFound : Code.Unavailable;
            reject(new ConnectError(`console refused the connection (HTTP ${status}): ${msg}`, code));
          });
        });
        ws.once("error", (err) => {
          signal?.removeEventListener("abort", onAbort);
          reject(new ConnectError(`cannot reach the console: ${err.message}`, Code.Unavailable));
        });
      });

      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (!isBinary || data.length < 5) {
          out.end(new ConnectError("console sent a malformed frame", Code.Internal));
          ws.terminate();
          return;
        }
        const flags = data[0] ?? 0;
        const len = data.readUInt32BE(1);
        const payload = data.subarray(5, 5 + len);
        if (flags & FLAG_END_STREAM) {
          const err = trailerError(payload);
          out.end(err ?? undefined);
          return;
        }
        try {
          out.push(fromBinary(method.output, payload));
        } catch (err) {
          out.end(new ConnectError(`cannot decode a console message: ${String(err)}`, Code.Internal));
          ws.terminate();
        }
      });
      const closeOnAbort = () => ws.close(1000);
      signal?.addEventListener("abort", closeOnAbort, { once: true });
      ws.on("close", (code, reason) => {
        signal?.removeEventListener("abort", closeOnAbort);
        out.end(
          out.isEnded
            ? undefined
            : new ConnectError(`connection closed (${code}${reason.length ? ` ${reason.toString()}` : ""})`, Code.Unavailable),
        );
      });
      ws.on("error", () => {
        // 'close' follows and ends the stream.
      });

      // Pump the request stream; ending it sends an end-stream envelope and closes our side.
      void (async () => {
        try {
          for await (const msg of input) {
            if (ws.readyState !== WebSocket.OPEN) break;
            ws.send(envelope(0, toBinary(method.input, create(method.input, msg))));
          }
          if (ws.readyState === WebSocket.OPEN) {
            ws.send(envelope(FLAG_END_STREAM, Buffer.from("{}")));
            ws.close(1000);
          }
        } catch {
          ws.terminate();
        }
      })();

      return {
        stream: true,
        service: method.parent,
        method,
        header: new Headers(),
        trailer: new Headers(),
        message: out,
      };
    },
  };
}
