import { defineConfig } from "vitest/config";

// Worker tests run on the real Docker Engine (scripts/docker-engine.sh) with the offline
// images (scripts/build-images.sh): one file at a time, generous timeouts, Node environment.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
