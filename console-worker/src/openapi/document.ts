import { ERROR_STATUS, type ErrorCode, errorBodySchema } from "@onlyboxes/proto";
import { z } from "zod/v4";
import { SESSION_COOKIE } from "../middleware/session.ts";
import { API_ROUTES, type ApiRoute, type RouteAuth } from "./route-table.ts";

type Json = Record<string, unknown>;

/** Codes a route may answer because of how it authenticates. */
const AUTH_ERRORS: Record<RouteAuth, readonly ErrorCode[]> = {
  none: [],
  bearer: ["unauthenticated", "login_throttled"],
  session: ["unauthenticated"],
  admin: ["unauthenticated", "forbidden"],
  metrics: ["unauthenticated"],
};

const SECURITY: Record<RouteAuth, Json[]> = {
  none: [],
  bearer: [{ bearerAuth: [] }],
  session: [{ dashboardSession: [] }],
  admin: [{ dashboardSession: [] }],
  metrics: [{ metricsToken: [] }],
};

/**
 * A zod schema as JSON Schema 2020-12 (the dialect of OpenAPI 3.1). Request bodies are
 * described as a client writes them (`io: "input"`: defaults make a field optional),
 * answers as the console writes them.
 */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Json;
  return rest;
}

/** Every code a route may answer: its own, its auth's, its input's, and any failure of the console. */
export function routeErrorCodes(route: ApiRoute): ErrorCode[] {
  const codes = new Set<ErrorCode>([...route.errors, ...AUTH_ERRORS[route.auth], "internal"]);
  if (route.body || route.query) codes.add("invalid_argument");
  if (route.body) codes.add("payload_too_large");
  if (route.path.startsWith("/api/")) codes.add("console_starting");
  return [...codes];
}

function errorSchemaFor(codes: ErrorCode[]): Json {
  return jsonSchema(errorBodySchema.extend({ code: z.enum(codes as [ErrorCode, ...ErrorCode[]]) }), "output");
}

function parameters(route: ApiRoute): Json[] {
  const params: Json[] = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => ({
    name: m[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
  for (const [name, field] of Object.entries(route.query?.shape ?? {})) {
    const schema = field as z.ZodType;
    params.push({ name, in: "query", required: !schema.safeParse(undefined).success, schema: jsonSchema(schema, "input") });
  }
  return params;
}

function operation(route: ApiRoute): Json {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of routeErrorCodes(route)) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const statuses = new Set<number>([...Object.keys(route.answers).map(Number), ...byStatus.keys()]);
  const responses: Json = {};
  for (const status of [...statuses].sort((a, b) => a - b)) {
    const answer = route.answers[status];
    const codes = byStatus.get(status);
    const content: Json = {};
    const json: Json[] = [];
    if (answer?.schema) json.push(jsonSchema(answer.schema, "output"));
    if (codes) json.push(errorSchemaFor(codes));
    if (json.length === 1) content["application/json"] = { schema: json[0] };
    if (json.length > 1) content["application/json"] = { schema: { anyOf: json } };
    for (const [mediaType, description] of Object.entries(answer?.alternatives ?? {})) {
      if (mediaType === "application/json" && json.length > 0) continue;
      content[mediaType] = { schema: { type: mediaType === "application/json" ? "object" : "string", description } };
    }
    const description = [answer?.description, codes ? `Error codes: ${codes.join(", ")}.` : undefined].filter(Boolean).join(" ");
    const response: Json = { description };
    if (Object.keys(content).length > 0) response.content = content;
    if (answer?.headers) {
      response.headers = Object.fromEntries(
        Object.entries(answer.headers).map(([name, text]) => [name, { description: text, schema: { type: "string" } }]),
      );
    }
    responses[String(status)] = response;
  }
  const op: Json = {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    security: SECURITY[route.auth],
    responses,
  };
  const params = parameters(route);
  if (params.length > 0) op.parameters = params;
  if (route.body) {
    op.requestBody = { required: false, content: { "application/json": { schema: jsonSchema(route.body, "input") } } };
  } else if (route.rawBody) {
    op.requestBody = {
      required: true,
      content: { [route.rawBody.mediaType]: { schema: { description: route.rawBody.description } } },
    };
  }
  return op;
}

/** The console's OpenAPI 3.1 document, built from the route table and the contracts' schemas. */
export function buildOpenApiDocument(version: string, routes: readonly ApiRoute[] = API_ROUTES): Json {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const item = paths[route.path] ?? {};
    item[route.method] = operation(route);
    paths[route.path] = item;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Onlyboxes console API",
      version,
      description:
        'The console of Onlyboxes, a self-hosted code-execution sandbox. Every error body is {"error": message, "code": code}; each code has one HTTP status.',
    },
    tags: [
      { name: "meta" },
      { name: "console", description: "Dashboard sign-in and the signed-in account's views." },
      { name: "tokens", description: "Access tokens for the bearer API and MCP." },
      { name: "workers", description: "Worker administration (admin accounts)." },
      { name: "commands", description: "Direct calls of a capability." },
      { name: "tasks", description: "Capability calls as tasks, polled or awaited." },
      { name: "mcp", description: "The Model Context Protocol endpoint." },
    ],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "An access token created in the dashboard." },
        dashboardSession: {
          type: "apiKey",
          in: "cookie",
          name: SESSION_COOKIE,
          description:
            "The dashboard's session cookie, set by login. State-changing calls with it must come from the console's own origin and send JSON.",
        },
        metricsToken: { type: "http", scheme: "bearer", description: "The value of CONSOLE_METRICS_TOKEN." },
      },
      schemas: { ErrorBody: jsonSchema(errorBodySchema, "output") },
    },
  };
}
