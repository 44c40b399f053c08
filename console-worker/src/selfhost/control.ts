// The launcher's control socket for a console run by bare workerd (self-host only): it
// applies the D1 migrations and fires scheduled events (the boot event, the daily cron) at
// the console, which bare workerd has no other way to receive. It listens on its own
// loopback socket and answers only requests carrying the token the launcher generated.
import { z } from "zod";
import { applyMigrations } from "../../../scripts/launcher/apply-migrations.mjs";

/** A service binding with workerd's `service_binding_extra_handlers` (not in the Cloudflare types). */
interface SchedulableService {
  scheduled(options: { cron: string; scheduledTime: Date }): Promise<{ outcome: string; noRetry: boolean }>;
}

interface Env {
  /** The console Worker, for its scheduled() handler. */
  CONSOLE: SchedulableService;
  /** The console's D1 database (the same binding the console has). */
  DB: D1Database;
  /** Random per start; the launcher sends it as a bearer token. */
  CONTROL_TOKEN: string;
}

const Migrations = z.object({
  migrations: z.array(z.object({ name: z.string().min(1), statements: z.array(z.string()) })),
});

const Scheduled = z.object({ cron: z.string(), scheduledTime: z.number().int().nonnegative() });

function sameToken(given: string, wanted: string): boolean {
  const enc = new TextEncoder();
  const a = enc.encode(given);
  const b = enc.encode(wanted);
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const auth = request.headers.get("authorization") ?? "";
    if (!sameToken(auth, `Bearer ${env.CONTROL_TOKEN}`)) return Response.json({ error: "unauthorized" }, { status: 401 });
    if (request.method !== "POST") return Response.json({ error: "method not allowed" }, { status: 405 });
    const { pathname } = new URL(request.url);
    try {
      if (pathname === "/migrate") {
        const body = Migrations.parse(await request.json());
        return Response.json({ applied: await applyMigrations(env.DB, body.migrations) });
      }
      if (pathname === "/scheduled") {
        const body = Scheduled.parse(await request.json());
        const result = await env.CONSOLE.scheduled({ cron: body.cron, scheduledTime: new Date(body.scheduledTime) });
        return Response.json(result, { status: result.outcome === "ok" ? 200 : 500 });
      }
    } catch (err) {
      return Response.json({ error: err instanceof Error ? err.message : String(err) }, { status: 500 });
    }
    return Response.json({ error: "not found" }, { status: 404 });
  },
} satisfies ExportedHandler<Env>;
