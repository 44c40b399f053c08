import { CommandFailure } from "../capabilities/types.ts";
import type { DockerConfig } from "../docker-config.ts";
import type { Logger } from "../log.ts";
import type { ContainerClient } from "./container-client.ts";
import type { ContainerTracker } from "./container-tracker.ts";
import { engineMessage } from "./docker-container-client.ts";
import { raceAbort } from "./run-signal.ts";
import { SANDBOX_GRACE_MS, terminalSpec } from "./sandbox-spec.ts";
import { ShellSession } from "./shell-session.ts";

/** A session slot: `creating` holds the place while its container starts. */
type Entry = { state: "creating" } | { state: "ready"; session: ShellSession };

/** A session to forget: its container is gone, or it is idle and its lease has passed. */
function ended(session: ShellSession, now: number): boolean {
  return !session.alive || (!session.busy && session.leaseExpiresAt <= now);
}

/**
 * The terminal sessions of this worker: one container each, a busy flag, a lease, and a
 * janitor that removes sessions whose lease ran out.
 */
export class TerminalSessions {
  private readonly entries = new Map<string, Entry>();
  private readonly janitor: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly client: ContainerClient,
    private readonly tracker: ContainerTracker,
    private readonly config: DockerConfig,
    private readonly log: Logger,
  ) {
    this.janitor = setInterval(() => this.reap(), config.janitorIntervalMs);
    this.janitor.unref();
  }

  /** Clamps a requested lease to the configured bounds (default when absent). */
  leaseTtlMs(requestedSec: number | undefined): number {
    const c = this.config;
    const sec = requestedSec === undefined ? c.leaseDefaultSec : Math.min(c.leaseMaxSec, Math.max(c.leaseMinSec, requestedSec));
    return sec * 1000;
  }

  /** Extends the lease to at least now + ttl; never shortens it (an adopted session's first command sets it). */
  extendLease(session: ShellSession, ttlMs: number): number {
    session.leaseExpiresAt = session.adopted ? Date.now() + ttlMs : Math.max(session.leaseExpiresAt, Date.now() + ttlMs);
    session.adopted = false;
    return session.leaseExpiresAt;
  }

  /**
   * Takes over the session containers an earlier run of this worker (same node id) left
   * running. Their own lease is kept by the container (its shell server ends it), so the
   * janitor here waits for the longest lease and the container's end tells it sooner.
   */
  async adopt(containers: Array<{ id: string; sessionId: string }>): Promise<void> {
    for (const c of containers) {
      if (this.entries.has(c.sessionId)) {
        await this.tracker.remove(c.id);
        continue;
      }
      try {
        const session = await ShellSession.adopt(
          this.client,
          this.tracker,
          c.id,
          c.sessionId,
          this.log.child({ session_id: c.sessionId }),
        );
        session.leaseExpiresAt = Date.now() + this.config.leaseMaxSec * 1000 + SANDBOX_GRACE_MS;
        this.entries.set(c.sessionId, { state: "ready", session });
        this.log.info("terminal session adopted", { session_id: c.sessionId, container_id: c.id });
      } catch (err) {
        this.log.warn("could not adopt a session container; removing it", { container_id: c.id, error: engineMessage(err) });
        await this.tracker.remove(c.id);
      }
    }
  }

  /** The session if this worker has it and its container is alive (busy or not). */
  find(sessionId: string): ShellSession | undefined {
    const e = this.entries.get(sessionId);
    return e?.state === "ready" && e.session.alive ? e.session : undefined;
  }

  /**
   * Takes the session for one command, creating it when allowed. Throws `session_not_found`,
   * `session_busy`, `no_capacity`, or the abort reason. The caller must `release` it.
   */
  async acquire(
    sessionId: string,
    createIfMissing: boolean,
    signal: AbortSignal,
  ): Promise<{ session: ShellSession; created: boolean }> {
    const e = this.entries.get(sessionId);
    if (e?.state === "ready" && ended(e.session, Date.now())) {
      // Its container vanished (killed from outside, engine restart), or its lease ran out
      // and the janitor has not come by yet: forget it. (An expired session's container
      // ends itself a grace after its lease; a command let in now could race that end.)
      await this.drop(sessionId);
      return this.acquire(sessionId, createIfMissing, signal);
    }
    if (e) {
      if (e.state === "creating" || e.session.busy) {
        throw new CommandFailure("session_busy", "another command is running in this session");
      }
      e.session.busy = true;
      return { session: e.session, created: false };
    }
    if (!createIfMissing) throw new CommandFailure("session_not_found", `session ${sessionId} not found`);
    if (this.closed) throw new CommandFailure("no_capacity", "the worker is shutting down");
    if (this.entries.size >= this.config.maxSessions) {
      throw new CommandFailure(
        "no_capacity",
        `this worker already holds its limit of ${this.config.maxSessions} terminal sessions`,
      );
    }
    this.entries.set(sessionId, { state: "creating" });
    const opening = ShellSession.open(
      this.client,
      this.tracker,
      terminalSpec(this.config, sessionId),
      sessionId,
      this.log.child({ session_id: sessionId }),
    );
    try {
      const session = await raceAbort(opening, signal);
      if (this.closed) throw new CommandFailure("canceled", "the worker is shutting down");
      this.entries.set(sessionId, { state: "ready", session });
      this.log.info("terminal session created", { session_id: sessionId, container_id: session.containerId });
      return { session, created: true };
    } catch (err) {
      this.entries.delete(sessionId);
      // An abort leaves the container starting: remove it once it exists.
      opening.then(
        (s) => {
          s.detach();
          void this.tracker.remove(s.containerId);
        },
        () => {},
      );
      if (err instanceof CommandFailure) throw err;
      throw new CommandFailure("worker_error", `could not start the terminal container: ${engineMessage(err)}`);
    }
  }

  release(session: ShellSession): void {
    session.busy = false;
  }

  /** Removes the session and its container (idempotent). */
  async drop(sessionId: string): Promise<void> {
    const e = this.entries.get(sessionId);
    if (e?.state !== "ready") return;
    this.entries.delete(sessionId);
    e.session.detach();
    this.log.info("terminal session closed", { session_id: sessionId, container_id: e.session.containerId });
    await this.tracker.remove(e.session.containerId);
  }

  private reap(): void {
    const now = Date.now();
    for (const [id, e] of this.entries) {
      if (e.state !== "ready" || e.session.busy) continue;
      if (ended(e.session, now)) {
        this.log.info("terminal session lease expired", { session_id: id });
        void this.drop(id);
      }
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Stops the janitor and removes every session container, or with `keep` lets go of the
   * idle ones without removing them (their containers end by their lease unless a next
   * start of this worker adopts them). A session whose command is running is removed.
   */
  async close(keep = false): Promise<void> {
    this.closed = true;
    clearInterval(this.janitor);
    const drops: Array<Promise<void>> = [];
    for (const [id, e] of [...this.entries]) {
      if (keep && e.state === "ready" && e.session.alive && !e.session.busy) {
        this.entries.delete(id);
        e.session.detach();
        this.tracker.forget(e.session.containerId);
        this.log.info("terminal session kept for the next start", { session_id: id, container_id: e.session.containerId });
      } else drops.push(this.drop(id));
    }
    await Promise.all(drops);
  }

  /** Forgets every session without engine calls (the engine went away with the containers). */
  forgetAll(): void {
    for (const e of this.entries.values()) if (e.state === "ready") e.session.detach();
    this.entries.clear();
  }
}
