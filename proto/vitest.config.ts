import { defineConfig } from "vitest/config";

/** Unit tests of the contracts: pure logic, no runtime, no Docker. */
export default defineConfig({ test: { include: ["test/**/*.test.ts"] } });
