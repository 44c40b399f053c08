// Cloudflare fires wrangler.toml's cron itself; a self-hosted console fires it here.

const DAY_MS = 24 * 60 * 60 * 1000;

/** Calls `fire()` a minute after start and then once a day; the timers never keep the process alive. */
export function scheduleDaily(fire, firstAfterMs = 60_000) {
  const first = setTimeout(fire, firstAfterMs);
  first.unref();
  const daily = setInterval(fire, DAY_MS);
  daily.unref();
  return () => {
    clearTimeout(first);
    clearInterval(daily);
  };
}
