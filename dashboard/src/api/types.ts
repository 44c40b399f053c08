/**
 * Shapes of the console REST API as the dashboard reads them. Nothing is restated here:
 * they are the types of the zod schemas in `@onlyboxes/proto` that the console's OpenAPI
 * document embeds and its tests check real answers against (type-only imports, so no
 * zod reaches the bundle).
 */
import type { WorkerStatus } from "@onlyboxes/proto/contracts";

export type {
  Account,
  CreatedToken,
  CreatedWorker,
  InflightCapability,
  RegisteredAccount,
  SessionInfo,
  TaskStatus,
  TaskSummary,
  TaskSummaryList,
  TerminalSessionList,
  TerminalSessionSummary,
  Token,
  TokenList,
  WorkerCapability as Capability,
  WorkerInflight,
  WorkerItem,
  WorkerPage,
  WorkerStats,
  WorkerStatus,
} from "@onlyboxes/proto/contracts";

/** The `status` filter of `GET /api/v1/workers`. */
export type WorkerStatusFilter = "all" | WorkerStatus;
