import type { CapabilitiesUpdate, ConnectHello } from "@onlyboxes/proto";
import type { CapabilitySlot } from "../objects/node-registry.ts";

/**
 * What the console accepts from a worker. A worker credential is trusted with the work
 * routed to it, not with describing itself freely: every claim in a hello (or a later
 * capabilities update) is checked against these bounds before anything is stored.
 */
export const WORKER_CLAIM_LIMITS = {
  /** Capabilities the console knows how to route; any other name is refused. */
  capabilities: ["echo", "pythonExec", "terminalExec", "terminalResource", "sessionFiles"] as const,
  /**
   * Slots one worker may claim per capability, unless CONSOLE_WORKER_MAX_INFLIGHT says
   * otherwise. Each slot of pythonExec or terminalExec is a container (256 MiB by default),
   * so 64 is already 16 GiB on one host; a claim far above what a host can run only lets a
   * worker draw (and answer) most of the traffic.
   */
  maxInflight: 64,
  labelCount: 32,
  labelKeyLength: 64,
  labelValueLength: 256,
  nodeNameLength: 128,
  versionLength: 64,
  executorKindLength: 64,
  /** A hello or capabilities update frame is small; anything larger is refused before decoding. */
  controlFrameBytes: 64 * 1024,
} as const;

/** The close code the console uses when a worker's claims are out of bounds. */
export const CLOSE_INVALID_CLAIM = 4400;

export type ClaimCheck<T> = { ok: true; value: T } | { ok: false; reason: string };

const KNOWN = new Set<string>(WORKER_CLAIM_LIMITS.capabilities);

/** Characters counted as the worker sent them (UTF-16 units, as stored and shown). */
function tooLong(value: string, max: number): boolean {
  return value.length > max;
}

/** Checks a capability list: known names, each once, slots within 0..maxInflight (0 = declared but off). */
export function checkCapabilities(
  caps: ConnectHello["capabilities"] | CapabilitiesUpdate["capabilities"],
  maxInflight: number = WORKER_CLAIM_LIMITS.maxInflight,
): ClaimCheck<CapabilitySlot[]> {
  const L = WORKER_CLAIM_LIMITS;
  if (caps.length > L.capabilities.length) {
    return { ok: false, reason: `at most ${L.capabilities.length} capabilities may be declared, got ${caps.length}` };
  }
  const seen = new Set<string>();
  const out: CapabilitySlot[] = [];
  for (const c of caps) {
    const name = c.name.slice(0, 64);
    if (!KNOWN.has(c.name)) return { ok: false, reason: `unknown capability "${name}"` };
    if (seen.has(c.name)) return { ok: false, reason: `capability "${name}" declared twice` };
    seen.add(c.name);
    if (!Number.isInteger(c.maxInflight) || c.maxInflight < 0 || c.maxInflight > maxInflight) {
      return { ok: false, reason: `max_inflight of ${name} must be between 0 and ${maxInflight}, got ${c.maxInflight}` };
    }
    out.push({ name: c.name, maxInflight: c.maxInflight });
  }
  return { ok: true, value: out };
}

/** What the console keeps from a hello that passed the checks. */
export interface CheckedHello {
  nodeName: string;
  executorKind: string;
  version: string;
  labels: Record<string, string>;
  caps: CapabilitySlot[];
}

/** Checks every field of a hello against WORKER_CLAIM_LIMITS; the reason names the first violation. */
export function checkHello(hello: ConnectHello, maxInflight: number = WORKER_CLAIM_LIMITS.maxInflight): ClaimCheck<CheckedHello> {
  const L = WORKER_CLAIM_LIMITS;
  if (tooLong(hello.nodeName, L.nodeNameLength)) return { ok: false, reason: `node_name longer than ${L.nodeNameLength}` };
  if (tooLong(hello.version, L.versionLength)) return { ok: false, reason: `version longer than ${L.versionLength}` };
  if (tooLong(hello.executorKind, L.executorKindLength)) {
    return { ok: false, reason: `executor_kind longer than ${L.executorKindLength}` };
  }
  const entries = Object.entries(hello.labels);
  if (entries.length > L.labelCount) return { ok: false, reason: `at most ${L.labelCount} labels, got ${entries.length}` };
  for (const [k, v] of entries) {
    if (k.length === 0 || tooLong(k, L.labelKeyLength)) {
      return { ok: false, reason: `label keys must be 1..${L.labelKeyLength} characters` };
    }
    if (tooLong(v, L.labelValueLength)) return { ok: false, reason: `label "${k}" longer than ${L.labelValueLength}` };
  }
  const caps = checkCapabilities(hello.capabilities, maxInflight);
  if (!caps.ok) return caps;
  return {
    ok: true,
    value: {
      nodeName: hello.nodeName,
      executorKind: hello.executorKind,
      version: hello.version,
      labels: Object.fromEntries(entries),
      caps: caps.value,
    },
  };
}
