// The dashboard's files, answered for the console's ASSETS binding: the app calls it only
// for paths it does not serve itself (wrangler's asset router in front of every request
// cost ≈0.25 ms of CPU per API call, measured, so the self-hosted runtime leaves it out).
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
  ".map": "application/json",
  ".webmanifest": "application/manifest+json",
};

/**
 * A handler answering GET/HEAD for files under `distDir` with the given Response class:
 * traversal-safe, single-page-app fallback to index.html for extension-less paths, and
 * immutable caching for the hashed files under assets/.
 */
export function assetHandler(distDir, Response) {
  return (request) => {
    const { pathname } = new URL(request.url);
    let rel;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return new Response("bad path", { status: 400 });
    }
    const file = path.resolve(distDir, `.${rel}`);
    const inside = file === distDir || file.startsWith(`${distDir}${path.sep}`);
    let target = inside && existsSync(file) && statSync(file).isFile() ? file : null;
    if (!target && path.extname(rel) === "") target = path.join(distDir, "index.html");
    if (!target || !existsSync(target)) return new Response("not found", { status: 404 });
    const immutable = target.startsWith(path.join(distDir, "assets") + path.sep);
    return new Response(request.method === "HEAD" ? null : readFileSync(target), {
      headers: {
        "content-type": MIME[path.extname(target)] ?? "application/octet-stream",
        "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
        "x-content-type-options": "nosniff",
      },
    });
  };
}
