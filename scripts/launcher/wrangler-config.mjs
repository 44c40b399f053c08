#!/usr/bin/env node
// Start-up helper run as its own short-lived process: prints, as JSON, what the launcher
// needs from wrangler.toml (the runtime options and [vars]), so the long-lived launcher
// never loads wrangler itself.
//
//   node scripts/launcher/wrangler-config.mjs <path/to/wrangler.toml>
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from "wrangler";

const configPath = process.argv[2];
if (!configPath) {
  process.stderr.write("usage: wrangler-config.mjs <wrangler.toml>\n");
  process.exit(2);
}
const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath);
// The bundle, its modules and the asset router are the launcher's own business.
const { script: _s, scriptPath: _sp, modules: _m, assets: _a, ...options } = workerOptions;
// Only wrangler.toml's [vars]: a developer's .dev.vars (npm run dev) must not leak into self-host.
const vars = unstable_readConfig({ config: configPath }).vars ?? {};
process.stdout.write(JSON.stringify({ options, vars }));
