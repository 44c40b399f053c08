import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Dashboard accounts. Usernames are unique case-insensitively (username_key is lower-cased). */
export const accounts = sqliteTable(
  "accounts",
  {
    id: text("id").primaryKey(), // acc_…
    username: text("username").notNull(),
    usernameKey: text("username_key").notNull(),
    passwordHash: text("password_hash").notNull(), // base64 PBKDF2-SHA256 digest
    passwordSalt: text("password_salt").notNull(), // base64
    passwordIterations: integer("password_iterations").notNull(),
    isAdmin: integer("is_admin", { mode: "boolean" }).notNull().default(false),
    createdAt: integer("created_at").notNull(), // unix ms
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("accounts_username_key").on(t.usernameKey)],
);

/** Dashboard sessions; the cookie carries the random id, only its HMAC is stored. */
export const dashboardSessions = sqliteTable(
  "dashboard_sessions",
  {
    idHash: text("id_hash").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("dashboard_sessions_account").on(t.accountId)],
);

/** Bearer access tokens; the plain value is shown once and stored only as HMAC-SHA256. */
export const tokens = sqliteTable(
  "tokens",
  {
    id: text("id").primaryKey(), // tok_…
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    nameKey: text("name_key").notNull(),
    tokenHash: text("token_hash").notNull(),
    tokenMasked: text("token_masked").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("tokens_hash").on(t.tokenHash), uniqueIndex("tokens_account_name").on(t.accountId, t.nameKey)],
);

/** Registered worker nodes with their credential (HMAC of the secret) and last known state. */
export const workers = sqliteTable(
  "workers",
  {
    nodeId: text("node_id").primaryKey(), // UUID
    secretHash: text("secret_hash").notNull(),
    nodeName: text("node_name").notNull().default(""),
    executorKind: text("executor_kind").notNull().default(""),
    capabilities: text("capabilities").notNull().default("[]"), // JSON [{name,max_inflight}]
    labels: text("labels").notNull().default("{}"), // JSON {k:v}
    version: text("version").notNull().default(""),
    status: text("status", { enum: ["online", "offline"] })
      .notNull()
      .default("offline"),
    registeredAt: integer("registered_at").notNull(),
    lastSeenAt: integer("last_seen_at"),
    createdBy: text("created_by"),
  },
  (t) => [index("workers_status").on(t.status)],
);

export const TASK_STATUSES = ["queued", "dispatched", "running", "succeeded", "failed", "timeout", "canceled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Tasks created through /api/v1/tasks; the Task Durable Object keeps the row in step. */
export const tasks = sqliteTable(
  "tasks",
  {
    id: text("id").primaryKey(), // task_…
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    requestId: text("request_id"),
    commandId: text("command_id").notNull(),
    capability: text("capability").notNull(),
    status: text("status", { enum: TASK_STATUSES }).notNull(),
    input: text("input").notNull(), // JSON
    result: text("result"), // JSON
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    deadlineAt: integer("deadline_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    uniqueIndex("tasks_account_request").on(t.accountId, t.requestId),
    index("tasks_account_created").on(t.accountId, t.createdAt),
    index("tasks_status").on(t.status),
  ],
);

/**
 * Terminal sessions as the dashboard lists them. The Session Durable Object is the
 * authority (pin, lease, busy); this row mirrors it for account-scoped listing.
 */
export const terminalSessions = sqliteTable(
  "terminal_sessions",
  {
    id: text("id").notNull(), // the session_id the client uses
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    nodeId: text("node_id").notNull(),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at").notNull(),
    leaseExpiresAt: integer("lease_expires_at").notNull(),
  },
  (t) => [uniqueIndex("terminal_sessions_pk").on(t.accountId, t.id), index("terminal_sessions_node").on(t.nodeId)],
);
