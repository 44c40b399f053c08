// What both launchers do once the console runtime listens: apply the migrations, fire the
// boot event, and trigger the first-start bootstrap.
import { get } from "node:http";
import { log } from "./log.mjs";
import { localUrl } from "./settings.mjs";

/** The event the console's scheduled handler treats as "a self-hosted start" (see console-worker's maintenance.ts). */
const BOOT_EVENT = "@boot";

/**
 * Brings a started runtime (`{ port, migrate, scheduled }`) to serving: applies the
 * migrations the database lacks, fires the boot event (it fails the previous run's
 * unfinished tasks, marks its workers offline, registers the local worker's credential and
 * arms the daily maintenance), then asks for the console session once, so a generated
 * admin password is printed now. Answers the URL a local client reaches the console at.
 */
export async function bootConsole(runtime, { host, migrations, bootStartedAt }) {
  const consoleUrl = localUrl(host, runtime.port);
  for (const file of await runtime.migrate(migrations)) log("applied migration", { file });
  await runtime.scheduled(BOOT_EVENT, bootStartedAt);
  // node:http, not fetch: fetch's client would stay resident in a long-lived launcher (≈12 MiB).
  await new Promise((resolve) => {
    get(`${consoleUrl}/api/v1/console/session`, (res) => res.resume().on("end", resolve)).on("error", resolve);
  });
  return consoleUrl;
}
