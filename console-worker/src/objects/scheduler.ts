import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";

export interface CapabilitySlot {
  name: string;
  maxInflight: number;
}

interface NodeEntry {
  connId: string;
  labels: Record<string, string>;
  caps: Map<string, { max: number; inflight: number }>;
}

/** What `acquire` answers: a node with a slot reserved, or why there is none. */
export type Placement =
  | { ok: true; nodeId: string }
  | { ok: false; code: "no_worker" | "no_capacity"; message: string };

const NODES_KEY = "nodes";

interface SavedNode {
  connId: string;
  labels: Record<string, string>;
  caps: CapabilitySlot[];
}

/**
 * Knows which nodes are online with which capabilities and free slots, and places each
 * command on the least-loaded node with a free slot. One instance ("global") serves a
 * small team; the namespace can be sharded by capability later without changing callers.
 *
 * Registrations are persisted so an evicted Scheduler comes back knowing the online nodes;
 * in-flight counts are transient (they belong to live RPCs that keep this object alive).
 */
export class Scheduler extends DurableObject<Env> {
  private nodes = new Map<string, NodeEntry>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const saved = await ctx.storage.get<{ boot?: string; nodes: Record<string, SavedNode> }>(NODES_KEY);
      // Registrations from before a self-hosted restart name sockets that no longer exist.
      if (!saved || (saved.boot ?? "") !== (env.CONSOLE_BOOT_ID ?? "")) return;
      for (const [nodeId, n] of Object.entries(saved.nodes ?? {})) {
        this.nodes.set(nodeId, { connId: n.connId, labels: n.labels, caps: toCapMap(n.caps) });
      }
    });
  }

  /** Records (or replaces) an online node's capabilities; in-flight counts of kept capabilities survive. */
  async register(nodeId: string, connId: string, caps: CapabilitySlot[], labels: Record<string, string>): Promise<void> {
    const prev = this.nodes.get(nodeId);
    const next = toCapMap(caps);
    if (prev && prev.connId === connId) {
      for (const [name, c] of next) c.inflight = prev.caps.get(name)?.inflight ?? 0;
    }
    this.nodes.set(nodeId, { connId, labels, caps: next });
    await this.persist();
  }

  /** Forgets a node, unless a newer connection (another connId) has registered since. */
  async unregister(nodeId: string, connId?: string): Promise<void> {
    const cur = this.nodes.get(nodeId);
    if (!cur || (connId !== undefined && cur.connId !== connId)) return;
    this.nodes.delete(nodeId);
    await this.persist();
  }

  /** Reserves a slot for `capability`, on `pinnedNodeId` when given, else on the least-loaded node. */
  acquire(capability: string, pinnedNodeId?: string): Placement {
    let best: { nodeId: string; load: number } | undefined;
    let anyCapable = false;
    for (const [nodeId, node] of this.nodes) {
      if (pinnedNodeId !== undefined && nodeId !== pinnedNodeId) continue;
      const cap = node.caps.get(capability);
      if (!cap) continue;
      anyCapable = true;
      if (cap.inflight >= cap.max) continue;
      const load = cap.inflight / cap.max;
      if (!best || load < best.load) best = { nodeId, load };
    }
    if (!anyCapable) {
      return {
        ok: false,
        code: "no_worker",
        message:
          pinnedNodeId !== undefined
            ? `the worker holding this session is not connected`
            : `no online worker offers capability ${capability}`,
      };
    }
    if (!best) return { ok: false, code: "no_capacity", message: `all workers offering ${capability} are at capacity; retry shortly` };
    const cap = this.nodes.get(best.nodeId)?.caps.get(capability);
    if (cap) cap.inflight++;
    return { ok: true, nodeId: best.nodeId };
  }

  /** Frees a slot reserved by acquire. */
  release(nodeId: string, capability: string): void {
    const cap = this.nodes.get(nodeId)?.caps.get(capability);
    if (cap && cap.inflight > 0) cap.inflight--;
  }

  /** Live per-node load, for the admin API and the dashboard. */
  inflight(): Array<{ nodeId: string; capabilities: Array<{ name: string; inflight: number; maxInflight: number }> }> {
    return [...this.nodes].map(([nodeId, n]) => ({
      nodeId,
      capabilities: [...n.caps].map(([name, c]) => ({ name, inflight: c.inflight, maxInflight: c.max })),
    }));
  }

  private async persist(): Promise<void> {
    const out: Record<string, SavedNode> = {};
    for (const [nodeId, n] of this.nodes) {
      out[nodeId] = {
        connId: n.connId,
        labels: n.labels,
        caps: [...n.caps].map(([name, c]) => ({ name, maxInflight: c.max })),
      };
    }
    await this.ctx.storage.put(NODES_KEY, { boot: this.env.CONSOLE_BOOT_ID ?? "", nodes: out });
  }
}

function toCapMap(caps: CapabilitySlot[]): Map<string, { max: number; inflight: number }> {
  const m = new Map<string, { max: number; inflight: number }>();
  for (const c of caps) if (c.maxInflight > 0) m.set(c.name, { max: c.maxInflight, inflight: 0 });
  return m;
}

/** The Scheduler instance every caller uses. */
export function schedulerStub(env: Env): DurableObjectStub<Scheduler> {
  return env.SCHEDULER.get(env.SCHEDULER.idFromName("global"));
}
