/** Frames received from and sent to one worker, as kept by its WorkerNode. */
export interface MessageCounts {
  received: number;
  sent: number;
}

const STORAGE_KEY = "messageCounts";

/**
 * Counts a WorkerNode's WebSocket frames in memory and saves them in batches (at the
 * worker's heartbeats and when the socket closes), never with a write per frame. Frames
 * counted after the last save are lost if the object is evicted; Prometheus reads that
 * as a counter reset.
 */
export class MessageCounter {
  private counts: MessageCounts = { received: 0, sent: 0 };
  private dirty = false;

  /** Restores the saved counts (call inside blockConcurrencyWhile). */
  async load(storage: DurableObjectStorage): Promise<void> {
    const saved = await storage.get<MessageCounts>(STORAGE_KEY);
    if (saved) this.counts = { received: saved.received + this.counts.received, sent: saved.sent + this.counts.sent };
  }

  received(): void {
    this.counts.received += 1;
    this.dirty = true;
  }

  sent(): void {
    this.counts.sent += 1;
    this.dirty = true;
  }

  /** Saves the counts when they changed since the last save. */
  async save(storage: DurableObjectStorage): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    await storage.put(STORAGE_KEY, this.counts);
  }

  /** The counts now. */
  snapshot(): MessageCounts {
    return { ...this.counts };
  }
}
