// The dashboard's files for a console run by bare workerd (self-host only): the console's
// ASSETS binding points here, and this reads them from a read-only disk service. The app
// asks ASSETS only for paths it does not serve itself.

interface Env {
  /** workerd disk service over dashboard/dist (read-only; it refuses paths outside it). */
  DIST: Fetcher;
}

const MIME: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  json: "application/json",
  txt: "text/plain; charset=utf-8",
  woff2: "font/woff2",
  map: "application/json",
  webmanifest: "application/manifest+json",
};

function extension(pathname: string): string {
  const last = pathname.slice(pathname.lastIndexOf("/") + 1);
  const dot = last.lastIndexOf(".");
  return dot > 0 ? last.slice(dot + 1).toLowerCase() : "";
}

/** A file of the disk service, or null when it is missing or a directory. */
async function readFile(env: Env, pathname: string): Promise<Response | null> {
  const res = await env.DIST.fetch(new URL(pathname, "http://dist/"), { method: "GET" });
  if (!res.ok) {
    await res.body?.cancel();
    return null;
  }
  // A directory answers with a JSON listing: never served as a file.
  if (
    pathname.endsWith("/") ||
    (res.headers.get("content-type")?.startsWith("application/json") === true && extension(pathname) !== "json")
  ) {
    await res.body?.cancel();
    return null;
  }
  return res;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    if (request.method !== "GET" && request.method !== "HEAD") return new Response("method not allowed", { status: 405 });
    let pathname = new URL(request.url).pathname;
    let file = await readFile(env, pathname);
    // Single-page app: an extension-less path is a route of the app.
    if (!file && extension(pathname) === "") {
      pathname = "/index.html";
      file = await readFile(env, pathname);
    }
    if (!file) return new Response("not found", { status: 404 });
    const immutable = pathname.startsWith("/assets/");
    return new Response(request.method === "HEAD" ? null : file.body, {
      headers: {
        "content-type": MIME[extension(pathname)] ?? "application/octet-stream",
        "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
        "x-content-type-options": "nosniff",
      },
    });
  },
} satisfies ExportedHandler<Env>;
