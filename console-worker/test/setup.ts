// Runs before every test file, inside workerd: brings the file's fresh D1 database to the
// current schema (migrations are read from console-worker/migrations by vitest.config.ts).
import { applyD1Migrations, env } from "cloudflare:test";

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
