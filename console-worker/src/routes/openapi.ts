import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { getConfig } from "../lib/config.ts";
import { buildOpenApiDocument } from "../openapi/document.ts";

let cached: { version: string; body: string } | undefined;

/** `GET /api/v1/openapi.json`: the API's OpenAPI 3.1 document (public, built once per isolate). */
export const openapiRoutes = new Hono<AppEnv>().get("/api/v1/openapi.json", (c) => {
  const version = getConfig(c.env).version;
  if (cached?.version !== version) cached = { version, body: JSON.stringify(buildOpenApiDocument(version)) };
  return c.body(cached.body, 200, { "content-type": "application/json; charset=utf-8" });
});
