import type { Logger } from "../log.ts";
import type { AttachedStreams, ContainerClient, ContainerSpec, ExitState, StreamName } from "./container-client.ts";
import type { ContainerTracker } from "./container-tracker.ts";
import { engineMessage } from "./docker-container-client.ts";

/** A started pythonExec container whose bootstrap waits for a program on stdin. */
export interface WarmContainer {
  readonly id: string;
  readonly io: AttachedStreams;
  /** Where this container's output goes from now on (nothing is expected before a run). */
  route(sink: (stream: StreamName, data: Buffer) => void): void;
  /** True once the engine closed the container's streams (it stopped). */
  readonly dead: boolean;
  /** How the container ended (asked for before it started, since it removes itself). */
  readonly exited: Promise<ExitState>;
}

/** Creates, attaches and starts one container running the bootstrap. */
export async function startWarmContainer(
  client: ContainerClient,
  tracker: ContainerTracker,
  spec: ContainerSpec,
): Promise<WarmContainer> {
  return tracker.create(spec, async (id) => {
    let sink: ((stream: StreamName, data: Buffer) => void) | null = null;
    let dead = false;
    const io = await client.attach(id, (stream, data) => sink?.(stream, data));
    void io.closed.then(() => {
      dead = true;
    });
    const exited = client.wait(id);
    // Only a run whose bootstrap died asks for it; nobody else must see a rejection.
    exited.catch(() => {});
    await client.start(id);
    return {
      id,
      io,
      exited,
      route: (s) => {
        sink = s;
      },
      get dead() {
        return dead;
      },
    };
  });
}

interface Waiter {
  resolve: (w: WarmContainer) => void;
  reject: (err: unknown) => void;
}

/**
 * A small pool of pre-started pythonExec containers. Each container serves exactly one
 * run: `take` hands it out and removes it from the pool, and a replacement starts at once
 * in the background. When the pool is empty the run waits for the next container to come
 * up; one extra container is wanted per waiting run, and runs are served in arrival order.
 * At most `maxStarting` containers start at a time: the engine's starts share the
 * machine's CPUs, so on a small host two at once finish sooner than ten at once, and the
 * first waiter gets the first container instead of all waiters getting theirs late.
 */
export class PythonPool {
  private readonly idle: WarmContainer[] = [];
  private readonly waiters: Waiter[] = [];
  private filling = 0;
  private closed = false;
  private retryAt = 0;
  private failing = false;

  constructor(
    private readonly client: ContainerClient,
    private readonly tracker: ContainerTracker,
    private readonly spec: () => ContainerSpec,
    private readonly size: number,
    private readonly log: Logger,
    private readonly maxStarting = 2,
  ) {}

  /** Warm containers waiting for a run. */
  get ready(): number {
    return this.idle.length;
  }

  /** Starts containers (a few at a time) until the pool, plus one per waiting run, is covered, in the background. */
  fill(): void {
    if (this.closed) return;
    // After a failure only waiting runs may trigger attempts (they need an answer); the
    // pool itself refills once the retry time has come.
    const target = Date.now() < this.retryAt ? this.waiters.length : this.size + this.waiters.length;
    while (this.idle.length + this.filling < target && this.filling < this.maxStarting) {
      this.filling++;
      startWarmContainer(this.client, this.tracker, this.spec())
        .then((w) => {
          if (this.failing) this.log.info("pythonExec pool recovered");
          this.failing = false;
          this.deliver(w);
        })
        .catch((err: unknown) => {
          // One line per failure streak, then quiet retries a few seconds apart.
          if (!this.failing) this.log.warn("pythonExec pool could not start a container", { error: engineMessage(err) });
          this.failing = true;
          this.retryAt = Date.now() + 3000;
          setTimeout(() => this.fill(), 3000).unref();
          this.waiters.shift()?.reject(err);
        })
        .finally(() => {
          this.filling--;
          // The next start, if one is still wanted (after a failure: only for waiting runs).
          this.fill();
        });
    }
  }

  private deliver(w: WarmContainer): void {
    if (this.closed) {
      w.io.destroy();
      void this.tracker.remove(w.id);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(w);
    else this.idle.push(w);
  }

  /**
   * A container for one run, never handed out twice. Rejects with the signal's reason on
   * abort (a container started for it then joins the pool) or with the engine's error.
   */
  take(signal: AbortSignal): Promise<WarmContainer> {
    if (signal.aborted) return Promise.reject(signal.reason);
    for (;;) {
      const w = this.idle.shift();
      if (!w) break;
      if (!w.dead) {
        this.fill();
        return Promise.resolve(w);
      }
      // Stopped while waiting (engine restart, killed from outside): discard it.
      void this.tracker.remove(w.id);
    }
    return new Promise<WarmContainer>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (w) => {
          signal.removeEventListener("abort", onAbort);
          resolve(w);
        },
        reject: (err) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
      this.fill();
    });
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** Stops refilling, fails waiting runs and removes the idle containers. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new Error("the worker is shutting down"));
    const idle = this.idle.splice(0);
    for (const w of idle) w.io.destroy();
    await Promise.all(idle.map((w) => this.tracker.remove(w.id)));
  }

  /** Retires the pool without engine calls (the engine went away with its containers). */
  forgetAll(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new Error("the Docker Engine went away"));
    for (const w of this.idle.splice(0)) w.io.destroy();
  }
}
