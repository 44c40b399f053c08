import { create, type DescMessage, type DescMethodStreaming, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type StreamResponse, type Transport } from "@connectrpc/connect";
import {
  createEnvelopeReadableStream,
  createMethodSerializationLookup,
  encodeEnvelope,
  pipe,
  transformParseEnvelope,
} from "@connectrpc/connect/protocol";
import { createEndStreamSerialization, type EndStreamResponse, endStreamFlag } from "@connectrpc/connect/protocol-connect";
import WebSocket from "ws";

export interface WebSocketTransportOptions {
  /** Console base URL, http(s):// or ws(s)://; the stream opens at `<base>/rpc/<service>/<method>`. */
  baseUrl: string;
  /** Headers sent with the upgrade request (credentials). */
  headers?: Record<string, string>;
  /** Time allowed for the upgrade to complete. */
  connectTimeoutMs?: number;
}

/** Serializes and parses the Connect end-of-stream JSON (`{}` or `{"error":{code,message}}`). */
const endStream = createEndStreamSerialization({});
/** Connect's own default limits; the socket's maxPayload (100 MiB) bounds each message first. */
const NO_SIZE_LIMIT = { readMaxBytes: 0xffffffff, writeMaxBytes: 0xffffffff };
/** How long an aborted stream waits for the console to answer its close frame. */
const ABORT_CLOSE_MS = 1_000;

/**
 * A connect-es Transport whose streams run over one WebSocket each, one Connect
 * envelope per binary message (fetch cannot stream a request body in Node, so bidi
 * Connect over HTTP/1.1 is not possible; WebSocket is). Unary calls are not supported.
 *
 * The response side is Connect's own envelope reader fed with the socket's bytes; the
 * stream ends at the console's end-stream envelope (its error, if any, is thrown) and
 * fails with `unavailable` when the socket closes without one.
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
      if (signal?.aborted) throw ConnectError.from(signal.reason, Code.Canceled);
      const url = `${base}/rpc/${method.parent.typeName}/${method.name}`;
      const headers: Record<string, string> = { ...options.headers };
      new Headers(header).forEach((v, k) => {
        headers[k] = v;
      });
      const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: options.connectTimeoutMs ?? 10_000 });
      const serialization = createMethodSerializationLookup(method, undefined, undefined, NO_SIZE_LIMIT);
      let closedAs = "";
      // Listen before the upgrade completes: frames that arrive with the 101 are emitted at once.
      const bytes = new ReadableStream<Uint8Array>({
        start(controller) {
          let done = false;
          // Aborting ends the response stream at once and closes politely; a peer that does
          // not answer the close (a half-open connection) is cut off shortly after.
          const onAbort = () => {
            const cutoff = setTimeout(() => ws.terminate(), ABORT_CLOSE_MS);
            cutoff.unref();
            ws.once("close", () => clearTimeout(cutoff));
            ws.close(1000);
            if (done) return;
            done = true;
            controller.error(ConnectError.from(signal?.reason, Code.Canceled));
          };
          if (signal?.aborted) onAbort();
          else signal?.addEventListener("abort", onAbort, { once: true });
          ws.once("close", () => signal?.removeEventListener("abort", onAbort));
          ws.on("message", (data: Buffer, isBinary: boolean) => {
            if (done) return;
            if (!isBinary) {
              done = true;
              controller.error(new ConnectError("console sent a text frame; expected binary Connect envelopes", Code.Internal));
              ws.terminate();
              return;
            }
            controller.enqueue(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
          });
          ws.on("close", (code, reason) => {
            closedAs = `${code}${reason.length ? ` ${reason.toString()}` : ""}`;
            if (done) return;
            done = true;
            controller.close();
          });
        },
      });
      ws.on("error", () => {
        // 'close' follows and ends the stream.
      });
      await opened(ws, signal);

      const message = pipe(
        createEnvelopeReadableStream(bytes),
        transformParseEnvelope(serialization.getO(true), endStreamFlag, endStream),
        async function* untilEndStream(iterable: AsyncIterable<{ value: MessageShape<O> | EndStreamResponse; end: boolean }>) {
          try {
            for await (const m of iterable) {
              if (!m.end) {
                yield m.value as MessageShape<O>;
                continue;
              }
              const err = (m.value as EndStreamResponse).error;
              if (err) throw err;
              return;
            }
            throw new ConnectError(`connection closed (${closedAs})`, Code.Unavailable);
          } catch (err) {
            // A protocol error on an open socket: drop the connection without ceremony.
            if (ws.readyState === WebSocket.OPEN) ws.terminate();
            throw err;
          } finally {
            if (ws.readyState === WebSocket.OPEN) ws.close(1000);
          }
        },
      );

      void pumpRequests(ws, input, (msg) => serialization.getI(true).serialize(create(method.input, msg)));

      return {
        stream: true,
        service: method.parent,
        method,
        header: new Headers(),
        trailer: new Headers(),
        message,
      };
    },
  };
}

/** Sends each request message as one envelope; ending the input sends the end-stream envelope and closes. */
async function pumpRequests<T>(ws: WebSocket, input: AsyncIterable<T>, serialize: (msg: T) => Uint8Array): Promise<void> {
  try {
    for await (const msg of input) {
      if (ws.readyState !== WebSocket.OPEN) break;
      ws.send(encodeEnvelope(0, serialize(msg)));
    }
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(encodeEnvelope(endStreamFlag, endStream.serialize({ metadata: new Headers() })));
      ws.close(1000);
    }
  } catch {
    ws.terminate();
  }
}

/** Resolves once the upgrade succeeded; rejects with a ConnectError saying why it did not. */
function opened(ws: WebSocket, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      ws.terminate();
      reject(ConnectError.from(signal?.reason, Code.Canceled));
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
        const code = status === 401 || status === 403 ? Code.Unauthenticated : status === 404 ? Code.NotFound : Code.Unavailable;
        reject(new ConnectError(`console refused the connection (HTTP ${status}): ${msg}`, code));
      });
    });
    ws.once("error", (err) => {
      signal?.removeEventListener("abort", onAbort);
      reject(new ConnectError(`cannot reach the console: ${err.message}`, Code.Unavailable));
    });
  });
}
