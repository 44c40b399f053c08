#!/usr/bin/env node
// `npm run dev`: the console under `wrangler dev` with local D1 and Durable Objects
// (state in .wrangler/state). Generates a development CONSOLE_HASH_KEY into .dev.vars
// once, applies the D1 migrations locally, builds the dashboard when missing.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = path.join(root, "node_modules", ".bin", "wrangler");
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };

const devVars = path.join(root, ".dev.vars");
if (!existsSync(devVars) || !/^CONSOLE_HASH_KEY=/m.test(readFileSync(devVars, "utf8"))) {
  writeFileSync(devVars, `CONSOLE_HASH_KEY=${randomBytes(32).toString("hex")}\nCONSOLE_ENABLE_REGISTRATION=true\n`, {
    flag: "a",
    mode: 0o600,
  });
  console.log("dev: wrote a development CONSOLE_HASH_KEY to .dev.vars");
}
if (!existsSync(path.join(root, "dashboard", "dist", "index.html"))) {
  spawnSync("npm", ["run", "build", "-w", "dashboard"], { cwd: root, stdio: "inherit" });
}
const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local"], {
  cwd: root,
  stdio: "inherit",
  env: { ...env, CI: "true" },
});
if (migrate.status !== 0) process.exit(migrate.status ?? 1);
const dev = spawn(wrangler, ["dev", ...process.argv.slice(2)], { cwd: root, stdio: "inherit", env });
dev.on("exit", (code) => process.exit(code ?? 0));
