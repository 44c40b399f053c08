/// <reference types="@cloudflare/vitest-pool-workers/types" />
import type { D1Migration } from "cloudflare:test";
import type { Env as ConsoleEnv } from "../src/env.ts";

// What `env` from "cloudflare:test" holds: the console's bindings plus the migrations
// vitest.config.ts passes in for test/setup.ts.
declare global {
  namespace Cloudflare {
    interface Env extends ConsoleEnv {
      TEST_MIGRATIONS: D1Migration[];
    }
  }
}
