import type { Logger } from "../log.ts";
import type { AttachedStreams, ContainerClient, ContainerSpec, StreamName } from "./container-client.ts";
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
}

/** Creates, attaches and starts one container running the bootstrap. */
export async function startWarmContainer(
  client: ContainerClient,
  tracker: ContainerTracker,
  spec: ContainerSpec,
): Promise<WarmContainer> {
  const id = await client.create(spec);
  tracker.add(id);
  try {
    let sink: ((stream: StreamName, data: Buffer) => void) | null = null;
    let dead = false;
    const io = await client.attach(id, (stream, data) => sink?.(stream, data));
    void io.closed.then(() => {
      dead = true;
    });
    await client.start(id);
    return {
      id,
      io,
      route: (s) => {
        sink = s;
      },
      get dead() {
        return dead;
      },
    };
  } catch (err) {
    await tracker.remove(id);
    throw err;
  }
}

/**
 * A small pool of pre-started pythonExec containers. Each container serves exactly one
 * run: `take` hands it out and removes it from the pool, and a replacement is started in
 * the background. When the pool is empty a container is started on demand.
 */
export class PythonPool {
  private readonly idle: WarmContainer[] = [];
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
  ) {}

  /** Starts containers until the pool holds `size` (in the background). */
  fill(): void {
    if (this.closed || Date.now() < this.retryAt) return;
    while (this.idle.length + this.filling < this.size) {
      this.filling++;
      startWarmContainer(this.client, this.tracker, this.spec())
        .then((w) => {
          if (this.failing) this.log.info("pythonExec pool recovered");
          this.failing = false;
          if (this.closed) {
            w.io.destroy();
            void this.tracker.remove(w.id);
            return;
          }
          this.idle.push(w);
        })
        .catch((err: unknown) => {
          // One line per failure streak, then quiet retries a few seconds apart.
          if (!this.failing) this.log.warn("pythonExec pool could not start a container", { error: engineMessage(err) });
          this.failing = true;
          this.retryAt = Date.now() + 3000;
          setTimeout(() => this.fill(), 3000).unref();
        })
        .finally(() => {
          this.filling--;
        });
    }
  }

  /** A container for one run: a warm one if any, otherwise a new one. Never handed out twice. */
  async take(): Promise<WarmContainer> {
    for (;;) {
      const w = this.idle.shift();
      if (!w) break;
      if (!w.dead) {
        this.fill();
        return w;
      }
      // Stopped while waiting (engine restart, killed from outside): discard it.
      void this.tracker.remove(w.id);
    }
    this.fill();
    return startWarmContainer(this.client, this.tracker, this.spec());
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** Stops refilling and removes the idle containers. */
  async close(): Promise<void> {
    this.closed = true;
    const idle = this.idle.splice(0);
    for (const w of idle) w.io.destroy();
    await Promise.all(idle.map((w) => this.tracker.remove(w.id)));
  }

  /** Forgets idle containers without engine calls (the engine went away with them). */
  forgetAll(): void {
    for (const w of this.idle.splice(0)) w.io.destroy();
  }
}
