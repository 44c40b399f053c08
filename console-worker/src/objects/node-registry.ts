import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";
import { runScheduled } from "../lib/maintenance.ts";
import { workerNodeStub } from "./worker-node.ts";

export interface CapabilitySlot {
  name: string;
  maxInflight: number;
}

/** A registered online node as callers see it. */
export interface NodeView {
  nodeId: string;
  capabilities: CapabilitySlot[];
  labels: Record<string, string>;
}

interface SavedNode {
  connId: string;
  labels: Record<string, string>;
  caps: CapabilitySlot[];
}

const NODES_KEY = "nodes";
const DAY_MS = 86_400_000;
/** A self-hosted console's first maintenance run comes this long after its start. */
export const FIRST_MAINTENANCE_MS = 60_000;

/**
 * The registry of online nodes and what they offer. Callers (lib/dispatch.ts) cache this
 * list briefly per isolate and place commands themselves; each WorkerNode enforces its own
 * slots, so the NodeRegistry is off the per-command path and never a single hot spot.
 *
 * Registrations are persisted so an evicted NodeRegistry comes back knowing the online
 * nodes; those from before a self-hosted restart (another CONSOLE_BOOT_ID) are dropped.
 */
export class NodeRegistry extends DurableObject<Env> {
  private nodes = new Map<string, SavedNode>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const saved = await ctx.storage.get<{ boot?: string; nodes: Record<string, SavedNode> }>(NODES_KEY);
      if (!saved || (saved.boot ?? "") !== (env.CONSOLE_BOOT_ID ?? "")) return;
      for (const [nodeId, n] of Object.entries(saved.nodes ?? {})) this.nodes.set(nodeId, n);
    });
  }

  /** Records (or replaces) an online node's capabilities. */
  async register(nodeId: string, connId: string, caps: CapabilitySlot[], labels: Record<string, string>): Promise<void> {
    this.nodes.set(nodeId, { connId, labels, caps: caps.filter((c) => c.maxInflight > 0) });
    await this.persist();
  }

  /** Forgets a node, unless a newer connection (another connId) has registered since. */
  async unregister(nodeId: string, connId?: string): Promise<void> {
    const cur = this.nodes.get(nodeId);
    if (!cur || (connId !== undefined && cur.connId !== connId)) return;
    this.nodes.delete(nodeId);
    await this.persist();
  }

  /** The online nodes with their capabilities. */
  list(): NodeView[] {
    return [...this.nodes].map(([nodeId, n]) => ({ nodeId, capabilities: n.caps, labels: n.labels }));
  }

  /** Live per-node load, asked of each node, for the admin API and the dashboard. */
  async inflight(): Promise<
    Array<{ nodeId: string; capabilities: Array<{ name: string; inflight: number; maxInflight: number }> }>
  > {
    return Promise.all(
      [...this.nodes].map(async ([nodeId, n]) => {
        const live = await workerNodeStub(this.env, nodeId)
          .load()
          .catch(() => null);
        return {
          nodeId,
          capabilities: n.caps.map((c) => ({
            name: c.name,
            inflight: live?.[c.name] ?? 0,
            maxInflight: c.maxInflight,
          })),
        };
      }),
    );
  }

  /**
   * Arms the daily maintenance of a self-hosted console (Cloudflare fires wrangler.toml's
   * cron instead; only the self-host boot event calls this): its alarm runs first
   * `firstInMs` from now, then once a day. Each start moves the first run again.
   */
  async armMaintenance(firstInMs = FIRST_MAINTENANCE_MS): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + firstInMs);
  }

  override async alarm(): Promise<void> {
    // The next day's run is armed first, so a failing run is tried again tomorrow.
    await this.ctx.storage.setAlarm(Date.now() + DAY_MS);
    await runScheduled(this.env);
  }

  private async persist(): Promise<void> {
    await this.ctx.storage.put(NODES_KEY, { boot: this.env.CONSOLE_BOOT_ID ?? "", nodes: Object.fromEntries(this.nodes) });
  }
}

/** The NodeRegistry instance every caller uses. */
export function nodeRegistryStub(env: Env): DurableObjectStub<NodeRegistry> {
  return env.NODE_REGISTRY.get(env.NODE_REGISTRY.idFromName("global"));
}
