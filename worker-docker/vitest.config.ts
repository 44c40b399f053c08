import { defineConfig } from "vitest/config";

// Two groups, run in this order: `unit` (pure logic: decoders, framing, config; no Docker,
// seconds), then `docker` on the real Docker Engine (scripts/docker-engine.sh) with the
// offline images (scripts/build-images.sh): one file at a time, generous timeouts.
// `npx vitest run --project unit` runs the first group alone.
export default defineConfig({
  test: {
    environment: "node",
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: "docker",
          include: ["test/docker/**/*.test.ts"],
          sequence: { groupOrder: 1 },
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
