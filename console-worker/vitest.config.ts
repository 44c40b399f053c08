import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Bindings every test sees (on top of wrangler.toml's vars). Helpers read them back from
 * `env`, so change them here only. Iterations are low so sign-in is fast in tests.
 */
export const TEST_BINDINGS = {
  CONSOLE_HASH_KEY: "test-hash-key-0123456789abcdef0123456789abcdef",
  CONSOLE_DASHBOARD_USERNAME: "admin",
  CONSOLE_DASHBOARD_PASSWORD: "admin-test-password",
  CONSOLE_ENABLE_REGISTRATION: "true",
  CONSOLE_PASSWORD_ITERATIONS: "1000",
  // Small, so the queue bound is reachable in a test.
  CONSOLE_QUEUE_MAX: "16",
} as const;

export default defineConfig(async () => {
  // wrangler.toml serves dashboard/dist as static assets and refuses to start when the
  // directory is missing; the API tests do not need the built dashboard, only the folder.
  mkdirSync(path.join(here, "..", "dashboard", "dist"), { recursive: true });
  const migrations = await readD1Migrations(path.join(here, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: path.join(here, "..", "wrangler.toml") },
        // Nothing here is remote; do not try to reach Cloudflare.
        remoteBindings: false,
        miniflare: {
          bindings: { ...TEST_BINDINGS, TEST_MIGRATIONS: migrations },
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      setupFiles: ["./test/setup.ts"],
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  };
});
