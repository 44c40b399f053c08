/**
 * A connection's outbound frames, in order, for the one transport that reads them. `send`
 * never throws and never waits (a closed outbox drops the frame); `close` ends the stream
 * after what is queued. A plain queue: each frame costs an array slot, not a promise.
 */
export class Outbox<T> implements AsyncIterable<T> {
  private queue: T[] = [];
  private head = 0;
  private reader: ((r: IteratorResult<T>) => void) | null = null;
  private closed = false;
  private readonly flushWaiters: Array<() => void> = [];

  /** Queues a frame (hands it straight to a waiting reader); dropped once closed. */
  send(msg: T): void {
    if (this.closed) return;
    const r = this.reader;
    if (r) {
      this.reader = null;
      r({ done: false, value: msg });
      return;
    }
    this.queue.push(msg);
  }

  /** Resolves once the transport has taken every frame sent so far (or the outbox is gone). */
  flushed(): Promise<void> {
    if (this.head >= this.queue.length) return Promise.resolve();
    return new Promise((r) => this.flushWaiters.push(r));
  }

  /** Ends the stream once the frames already queued have been taken. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const r = this.reader;
    if (r) {
      this.reader = null;
      r({ done: true, value: undefined });
    }
  }

  private next(): Promise<IteratorResult<T>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++] as T;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
        for (const w of this.flushWaiters.splice(0)) w();
      }
      return Promise.resolve({ done: false, value });
    }
    if (this.closed) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => {
      this.reader = resolve;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      // The transport stopped reading: nothing queued will leave any more.
      return: () => {
        this.closed = true;
        this.queue = [];
        this.head = 0;
        for (const w of this.flushWaiters.splice(0)) w();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}
