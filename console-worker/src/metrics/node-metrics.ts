import type { MessageCounts } from "./message-counter.ts";

/** What one WorkerNode reports to the metrics route: read from memory, no storage access. */
export interface NodeMetrics {
  messages: MessageCounts;
  /** Commands waiting in the node's admission queue, per capability (absent when none wait). */
  queued: Record<string, number>;
}

/** The fleet's totals: frames by direction, and waiting commands per capability summed over the nodes. */
export function sumNodeMetrics(nodes: readonly NodeMetrics[]): { messages: MessageCounts; queued: Map<string, number> } {
  const messages: MessageCounts = { received: 0, sent: 0 };
  const queued = new Map<string, number>();
  for (const n of nodes) {
    messages.received += n.messages.received;
    messages.sent += n.messages.sent;
    for (const [capability, size] of Object.entries(n.queued)) queued.set(capability, (queued.get(capability) ?? 0) + size);
  }
  return { messages, queued };
}
