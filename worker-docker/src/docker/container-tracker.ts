import type { Logger } from "../log.ts";
import type { ContainerClient, ContainerSpec } from "./container-client.ts";

/**
 * Remembers every container this worker created until it is removed, so shutdown can
 * remove all of them and pending background removals can be awaited.
 */
export class ContainerTracker {
  private readonly live = new Set<string>();
  private readonly removing = new Map<string, Promise<void>>();

  constructor(
    private readonly client: ContainerClient,
    private readonly log: Logger,
  ) {}

  add(id: string): void {
    this.live.add(id);
  }

  /**
   * Creates a container from `spec`, remembered from then on, and answers what `setUp`
   * (attach, start) makes of it; when `setUp` fails, the container is removed again.
   */
  async create<T>(spec: ContainerSpec, setUp: (id: string) => Promise<T>): Promise<T> {
    const id = await this.client.create(spec);
    this.add(id);
    try {
      return await setUp(id);
    } catch (err) {
      await this.remove(id);
      throw err;
    }
  }

  get size(): number {
    return this.live.size;
  }

  /** Force-removes one container; never throws (a failure is logged and retried by `removeAll`). */
  remove(id: string): Promise<void> {
    const pending = this.removing.get(id);
    if (pending) return pending;
    const p = this.client
      .remove(id)
      .then(() => {
        this.live.delete(id);
      })
      .catch((err: unknown) => {
        this.log.warn("could not remove container", {
          container_id: id,
          error: err instanceof Error ? err.message : String(err),
        });
      })
      .finally(() => {
        this.removing.delete(id);
      });
    this.removing.set(id, p);
    return p;
  }

  /**
   * Lets a container that ends and removes itself (auto-remove) go: forgotten once `gone`
   * resolves, force-removed when it has not within `graceMs`. A forced removal of a
   * container already on its way out only adds engine work, next to the next run's start.
   */
  retire(id: string, gone: Promise<unknown>, graceMs: number): Promise<void> {
    const pending = this.removing.get(id);
    if (pending) return pending;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    });
    const p = Promise.race([
      gone.then(
        () => true,
        () => false,
      ),
      timedOut,
    ]).then((ended): Promise<void> | undefined => {
      clearTimeout(timer);
      this.removing.delete(id);
      if (!ended) return this.remove(id);
      this.live.delete(id);
      return undefined;
    });
    this.removing.set(id, p);
    return p;
  }

  /** Forgets one container without removing it (a session kept for the next start). */
  forget(id: string): void {
    this.live.delete(id);
  }

  /** Forgets containers without touching the engine (it went away and took them along). */
  forgetAll(): void {
    this.live.clear();
  }

  /** Removes every container still known, and waits for removals already under way. */
  async removeAll(): Promise<void> {
    await Promise.all([...this.live].map((id) => this.remove(id)));
    await Promise.all([...this.removing.values()]);
  }
}
