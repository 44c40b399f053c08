import type { OutputChunk } from "./dispatch.ts";

/** One piece of a run's output as text (UTF-8 decoded, a character split across chunks kept whole). */
export interface OutputEvent {
  stream: "stdout" | "stderr";
  data: string;
}

/** A listener gets every event in order; a rejected delivery drops the listener. */
export type OutputListener = (event: OutputEvent) => unknown;

/**
 * Bytes of output one run keeps for replay, per stream. Workers stop streaming at their own
 * output limit (WORKER_OUTPUT_LIMIT_BYTES); this bound only protects the console from a
 * worker that would not.
 */
export const MAX_LIVE_OUTPUT_BYTES = 4 * 1024 * 1024;

interface Subscriber {
  listener: OutputListener;
  /** Deliveries in order: each waits for the one before. */
  chain: Promise<void>;
  closed: boolean;
  resolveEnd: (completed: boolean) => void;
}

/**
 * The output of one running command: kept from the start (so a client that connects late
 * gets the whole of it, in order) and handed to every live subscriber as it arrives. Each
 * event is delivered exactly once per subscriber: the replay and the live part come from
 * the same list, under the same chain.
 */
export class OutputLog {
  private readonly events: OutputEvent[] = [];
  private readonly subscribers = new Set<Subscriber>();
  private readonly decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  private readonly bytes = { stdout: 0, stderr: 0 };
  private ended = false;

  /** Decodes and records a chunk from the worker and passes it on; beyond the per-stream bound it is dropped. */
  append(chunk: OutputChunk): void {
    if (this.ended) return;
    const room = MAX_LIVE_OUTPUT_BYTES - this.bytes[chunk.stream];
    if (room <= 0) return;
    const kept = chunk.data.byteLength > room ? chunk.data.subarray(0, room) : chunk.data;
    this.bytes[chunk.stream] += kept.byteLength;
    const data = this.decoders[chunk.stream].decode(kept, { stream: true });
    this.record(chunk.stream, data);
  }

  /** Flushes what the decoders hold and releases every subscriber once its deliveries are done. */
  end(): void {
    if (this.ended) return;
    for (const stream of ["stdout", "stderr"] as const) this.record(stream, this.decoders[stream].decode());
    this.ended = true;
    for (const s of this.subscribers) this.finish(s);
  }

  /**
   * Replays everything so far to `listener`, then everything that follows, and resolves
   * with true once the log has ended and the last delivery settled, or with false as soon
   * as a delivery fails (a client that went away).
   */
  follow(listener: OutputListener): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const s: Subscriber = { listener, chain: Promise.resolve(), closed: false, resolveEnd: resolve };
      this.subscribers.add(s);
      for (const event of this.events) this.deliver(s, event);
      if (this.ended) this.finish(s);
    });
  }

  /** Everything recorded so far (for tests and snapshots). */
  snapshot(): readonly OutputEvent[] {
    return this.events;
  }

  /** Keeps a decoded piece (an empty one is nothing) and hands it to every subscriber. */
  private record(stream: OutputEvent["stream"], data: string): void {
    if (data === "") return;
    const event: OutputEvent = { stream, data };
    this.events.push(event);
    for (const s of this.subscribers) this.deliver(s, event);
  }

  private deliver(s: Subscriber, event: OutputEvent): void {
    if (s.closed) return;
    s.chain = s.chain.then(async () => {
      if (s.closed) return;
      try {
        await s.listener(event);
      } catch {
        s.closed = true;
        this.subscribers.delete(s);
        s.resolveEnd(false);
      }
    });
  }

  private finish(s: Subscriber): void {
    this.subscribers.delete(s);
    void s.chain.then(() => s.resolveEnd(true));
  }
}
