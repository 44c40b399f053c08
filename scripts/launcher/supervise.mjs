// Keeps a child process running: starts it again a moment after it exits, until stopped.
// Stopping sends SIGTERM, waits for the exit, and SIGKILLs after a grace period.

/**
 * Supervises the process `start()` spawns. `onExit(code, signal)` is told about every
 * unexpected exit. Answers `{ stop(graceMs), current() }`.
 */
export function supervise(start, { restartDelayMs = 2000, onExit = () => {} } = {}) {
  let child = null;
  let stopping = false;
  let timer = null;
  const run = () => {
    timer = null;
    const c = start();
    child = c;
    c.once("exit", (code, signal) => {
      if (child === c) child = null;
      if (stopping) return;
      onExit(code, signal);
      timer = setTimeout(() => {
        if (!stopping) run();
      }, restartDelayMs);
      timer.unref();
    });
  };
  run();
  return {
    current: () => child,
    async stop(graceMs = 35_000) {
      stopping = true;
      if (timer) clearTimeout(timer);
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once("exit", r));
      c.kill("SIGTERM");
      const kill = setTimeout(() => c.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(kill);
    },
  };
}
