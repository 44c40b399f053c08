import { defineConfig } from "vitest/config";

// End-to-end suites start the real self-hosted console, real workers and the real Docker
// Engine (and Chromium for the dashboard): one file at a time, with generous timeouts.
export default defineConfig({
  test: {
    include: ["e2e/**/*.test.ts"],
    root: new URL("..", import.meta.url).pathname,
    environment: "node",
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 240_000,
    reporters: ["default"],
  },
});
