import solid from "vite-plugin-solid";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [solid()],
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
    restoreMocks: true,
    // jsdom renders of a full page (25 rows, paging) take seconds on a busy 2-core machine;
    // the default 5 s turned load into failures. findBy* waits stay at their own 1 s.
    testTimeout: 20_000,
  },
});
