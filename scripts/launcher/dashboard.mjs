// The dashboard is served from dashboard/dist; the launcher builds it when it is missing.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { log } from "./log.mjs";

/** Answers the dashboard's build directory, building it first when there is none (a failed build leaves a page saying so). */
export function ensureDashboard(root) {
  const distDir = path.join(root, "dashboard", "dist");
  if (existsSync(path.join(distDir, "index.html"))) return distDir;
  log("building the dashboard (first start)");
  const r = spawnSync("npm", ["run", "build", "-w", "dashboard"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0 || !existsSync(path.join(distDir, "index.html"))) {
    mkdirSync(distDir, { recursive: true });
    writeFileSync(
      path.join(distDir, "index.html"),
      "<!doctype html><title>Onlyboxes</title><p>The dashboard build failed; the API works.</p>\n",
    );
  }
  return distDir;
}
