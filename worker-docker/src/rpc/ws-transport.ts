import { create, type DescMessage, type DescMethodStreaming, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type StreamResponse, type Transport } from "@connectrpc/connect";
import { createMethodSerializationLookup, encodeEnvelope } from "@connectrpc/connect/protocol";
import { createEndStreamSerialization, endStreamFlag } from "@connectrpc/connect/protocol-connect";
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
 * The response side parses each envelope as its frame arrives (with Connect's own
 * serializers) into a queue the consumer reads, without a byte stream in between; the
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
      const parseOutput = serialization.getO(true);
      // Listen before the upgrade completes: frames that arrive with the 101 are emitted at once.
      const message = new InboundMessages<MessageShape<O>>(() => {
        // The consumer stopped reading (or the stream failed): the connection has no further use.
        if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      });
      // Aborting ends the response stream at once and closes politely; a peer that does not
      // answer the close (a half-open connection) is cut off shortly after.
      const onAbort = () => {
        const cutoff = setTimeout(() => ws.terminate(), ABORT_CLOSE_MS);
        cutoff.unref();
        ws.once("close", () => clearTimeout(cutoff));
        ws.close(1000);
        message.fail(ConnectError.from(signal?.reason, Code.Canceled), true);
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
      ws.once("close", () => signal?.removeEventListener("abort", onAbort));
      /** Bytes of an envelope split across messages (the console sends whole ones; any split is still read). */
      let partial: Buffer | null = null;
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (message.ended) return;
        if (!isBinary) {
          ws.terminate();
          message.fail(new ConnectError("console sent a text frame; expected binary Connect envelopes", Code.Internal), true);
          return;
        }
        let buf = partial ? Buffer.concat([partial, data]) : data;
        partial = null;
        try {
          while (buf.byteLength >= 5 && !message.ended) {
            const length = buf.readUInt32BE(1);
            if (buf.byteLength < 5 + length) break;
            const flags = buf[0] ?? 0;
            const body = new Uint8Array(buf.buffer, buf.byteOffset + 5, length);
            buf = buf.subarray(5 + length);
            if ((flags & endStreamFlag) === endStreamFlag) {
              const err = endStream.parse(body).error;
              if (err) message.fail(err, false);
              else message.finish();
              // The stream is over: the console closes its side, and so do we.
              if (ws.readyState === WebSocket.OPEN) ws.close(1000);
            } else {
              message.push(parseOutput.parse(body));
            }
          }
          if (buf.byteLength > 0 && !message.ended) partial = buf;
        } catch (err) {
          // A protocol error on an open socket: drop the connection without ceremony.
          ws.terminate();
          message.fail(ConnectError.from(err, Code.Internal), false);
        }
      });
      ws.on("close", (code, reason) => {
        const closedAs = `${code}${reason.length ? ` ${reason.toString()}` : ""}`;
        message.fail(new ConnectError(`connection closed (${closedAs})`, Code.Unavailable), false);
      });
      ws.on("error", () => {
        // 'close' follows and ends the stream.
      });
      await opened(ws, signal);

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

/**
 * The messages of one response stream, parsed as their socket frames arrive, for one
 * consumer. Messages queued before a normal end or an error are read first; an abort or
 * a protocol violation ends the stream at once (what is queued is dropped).
 */
class InboundMessages<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private head = 0;
  private end: { error: unknown } | { error?: undefined } | null = null;
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void } | null = null;
  private stopped = false;

  /** `onStop` runs once, when the consumer stops reading or the stream ends in an error it has read. */
  constructor(private readonly onStop: () => void) {}

  /** True once no further message will be queued. */
  get ended(): boolean {
    return this.end !== null;
  }

  push(value: T): void {
    if (this.end) return;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w.resolve({ done: false, value });
    } else this.queue.push(value);
  }

  /** The stream ended cleanly: the consumer reads what is queued, then done. */
  finish(): void {
    if (this.end) return;
    this.end = {};
    this.settleWaiter();
  }

  /** The stream failed with `error`; `now` drops what is queued instead of delivering it first. */
  fail(error: unknown, now: boolean): void {
    if (this.end) return;
    this.end = { error };
    if (now) {
      this.queue.length = 0;
      this.head = 0;
    }
    this.settleWaiter();
  }

  private settleWaiter(): void {
    const w = this.waiter;
    if (!w || this.head < this.queue.length) return;
    this.waiter = null;
    this.next().then(w.resolve, w.reject);
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.onStop();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++] as T;
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      }
      return Promise.resolve({ done: false, value });
    }
    if (this.end) {
      this.stop();
      if ("error" in this.end && this.end.error !== undefined) {
        const { error } = this.end;
        // Thrown once; later reads see a finished stream.
        this.end = {};
        return Promise.reject(error);
      }
      return Promise.resolve({ done: true, value: undefined });
    }
    if (this.waiter) return Promise.reject(new Error("one reader at a time"));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: () => {
        this.end ??= {};
        this.queue.length = 0;
        this.head = 0;
        this.stop();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
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
