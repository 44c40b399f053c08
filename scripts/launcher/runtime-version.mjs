// A newer workerd rewrites Durable Object metadata that an older one then refuses: a data
// directory only ever moves forward in runtime version.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { LauncherError } from "./log.mjs";

/** Compares dotted versions numerically: negative when a < b, 0 when equal, positive when a > b. */
export function compareVersions(a, b) {
  const num = (v) => v.split(".").map((x) => Number.parseInt(x, 10) || 0);
  const [x, y] = [num(a), num(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Refuses a data directory last used by a newer runtime, then records `version` in it. */
export function claimRuntimeVersion(dataDir, version) {
  const file = path.join(dataDir, "runtime-version");
  if (existsSync(file)) {
    const recorded = readFileSync(file, "utf8").trim();
    if (compareVersions(recorded, version) > 0) {
      throw new LauncherError(
        `${dataDir} was last used by runtime ${recorded}, newer than this checkout's ${version}; start it with the newer checkout (an older workerd cannot read its state)`,
      );
    }
  }
  writeFileSync(file, `${version}\n`);
}
