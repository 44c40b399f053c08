#!/usr/bin/env node
// The console image's entry point: the self-host launcher (scripts/start.mjs), with a
// worker that runs as its own service in mind. When ONLYBOXES_WORKER_CREDENTIAL_DIR names a
// directory (in compose, a volume shared with the worker service), the worker's credential
// is created there once and handed to the console, whose boot event registers it just as
// it registers the launcher's own local worker; the worker image reads the same file. So
// `docker compose up -d` needs no step by hand, and only the console ever writes it.
import { mkdirSync } from "node:fs";
import { loadLocalWorkerCredential } from "../launcher/local-worker.mjs";

const dir = process.env.ONLYBOXES_WORKER_CREDENTIAL_DIR?.trim();
if (dir && !process.env.CONSOLE_LOCAL_WORKER_ID) {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const cred = loadLocalWorkerCredential(dir);
    process.env.CONSOLE_LOCAL_WORKER_ID = cred.node_id;
    process.env.CONSOLE_LOCAL_WORKER_SECRET = cred.secret;
  } catch (err) {
    process.stderr.write(
      `onlyboxes: cannot keep the worker credential in ONLYBOXES_WORKER_CREDENTIAL_DIR=${dir}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(2);
  }
}
await import("../start.mjs");
