// D1 for a console run by bare workerd (self-host only; never part of the Cloudflare entry).
// workerd's own D1 binding (the `cloudflare-internal:d1-api` module) speaks HTTP to a
// "fetcher": this Durable Object answers it from its SQLite storage. The class name and
// the object's name match Miniflare's, so a data directory written by either runtime holds
// the same file (<dir>/miniflare-D1DatabaseObject/<id>.sqlite) and stays readable by both.
import { DurableObject } from "cloudflare:workers";

/** A bound value as d1-api sends it: a byte array arrives as an array of numbers. */
type D1Value = number | string | null | number[];

interface D1Query {
  sql: string;
  params?: D1Value[] | null;
}

interface Env {
  /** The namespace of this class, in this same service. */
  D1_OBJECT: DurableObjectNamespace;
  /** The database's id (wrangler.toml's database_id): names the one object that holds it. */
  D1_DATABASE_ID: string;
}

const RESULT_FORMATS = new Set(["ARRAY_OF_OBJECTS", "ROWS_AND_COLUMNS", "NONE"]);

function isQuery(value: unknown): value is D1Query {
  if (typeof value !== "object" || value === null) return false;
  const q = value as Record<string, unknown>;
  return typeof q.sql === "string" && (q.params === undefined || q.params === null || Array.isArray(q.params));
}

function toParam(value: D1Value): SqlStorageValue {
  return Array.isArray(value) ? new Uint8Array(value).buffer : value;
}

function toCell(value: SqlStorageValue): unknown {
  return value instanceof ArrayBuffer ? Array.from(new Uint8Array(value)) : value;
}

/** Whether a statement has more than comments and whitespace (D1 refuses empty ones). */
function hasSql(sql: string): boolean {
  return sql.replace(/^\s*--.*$/gm, "").trim().length > 0;
}

/** The object that holds the database: one SQLite file, queries run in one transaction per request. */
export class D1DatabaseObject extends DurableObject<Env> {
  private changes(): { total: number; lastRowId: number } {
    const row = this.ctx.storage.sql
      .exec<{ total: number; lastRowId: number }>("SELECT total_changes() AS total, last_insert_rowid() AS lastRowId")
      .one();
    return row;
  }

  private run(format: string, query: D1Query): unknown {
    const sql = this.ctx.storage.sql;
    const started = performance.now();
    const sizeBefore = sql.databaseSize;
    const before = this.changes();
    const cursor = sql.exec(query.sql, ...(query.params ?? []).map(toParam));
    const columns = cursor.columnNames;
    const rows = Array.from(cursor.raw(), (row) => row.map(toCell));
    const after = this.changes();
    const sizeAfter = sql.databaseSize;
    const changes = after.total - before.total;
    const results =
      format === "ROWS_AND_COLUMNS"
        ? { columns, rows }
        : rows.map((row) => Object.fromEntries(columns.map((name, i) => [name, row[i]])));
    return {
      success: true,
      results,
      meta: {
        served_by: "onlyboxes.selfhost.d1",
        duration: performance.now() - started,
        changes,
        last_row_id: after.lastRowId,
        changed_db: changes !== 0 || after.lastRowId !== before.lastRowId || sizeAfter !== sizeBefore,
        size_after: sizeAfter,
        rows_read: cursor.rowsRead,
        rows_written: cursor.rowsWritten,
      },
    };
  }

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (request.method !== "POST" || (url.pathname !== "/query" && url.pathname !== "/execute")) {
      return new Response("not found", { status: 404 });
    }
    const body: unknown = await request.json().catch(() => undefined);
    const list = Array.isArray(body) ? body : [body];
    if (!list.every(isQuery)) return Response.json({ success: false, error: "malformed D1 query" });
    const queries = list.filter((q) => hasSql(q.sql));
    if (queries.length === 0) return Response.json({ success: false, error: "No SQL statements detected." });
    const requested = url.searchParams.get("resultsFormat") ?? "";
    const format = RESULT_FORMATS.has(requested) ? requested : "ARRAY_OF_OBJECTS";
    try {
      // All statements of one request commit together or not at all, as D1's batch does.
      const results = this.ctx.storage.transactionSync(() => queries.map((q) => this.run(format, q)));
      return Response.json(results);
    } catch (err) {
      return Response.json({ success: false, error: err instanceof Error ? err.message : String(err) });
    }
  }
}

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    const stub = env.D1_OBJECT.get(env.D1_OBJECT.idFromName(env.D1_DATABASE_ID));
    return stub.fetch(request);
  },
} satisfies ExportedHandler<Env>;
