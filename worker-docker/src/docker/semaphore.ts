/** A counting semaphore whose waiters can give up when their signal aborts. */
export class Semaphore {
  private readonly waiters: Array<() => void> = [];
  private used = 0;

  constructor(private readonly size: number) {}

  /** Resolves with a release function once a slot is free; rejects with the signal's reason on abort. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.used--;
        this.waiters.shift()?.();
      };
      const grant = () => {
        signal.removeEventListener("abort", onAbort);
        this.used++;
        resolve(release);
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      };
      if (this.used < this.size) {
        grant();
        return;
      }
      this.waiters.push(grant);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}
