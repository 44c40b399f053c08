/**
 * The one registry of error codes, shared by the console and the worker. REST answers a
 * code with its HTTP status and `{ "error": message, "code": code }`, MCP with an
 * `isError` tool result (or JSON-RPC -32602 for bad arguments), and the worker wire
 * carries it in `CommandError.code`. The compiler makes every code have a status.
 */
export const ERROR_STATUS = {
  invalid_argument: 400,
  path_is_directory: 400,
  unauthenticated: 401,
  forbidden: 403,
  forbidden_origin: 403,
  not_found: 404,
  session_not_found: 404,
  file_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  session_busy: 409,
  canceled: 409,
  gone: 410,
  file_too_large: 413,
  payload_too_large: 413,
  unsupported_media_type: 415,
  upgrade_required: 426,
  no_capacity: 429,
  account_session_limit: 429,
  account_run_limit: 429,
  login_throttled: 429,
  internal: 500,
  worker_disconnected: 502,
  worker_error: 502,
  console_restarted: 502,
  protocol_error: 502,
  /** The sandbox broke the framing its output travels in (a forged or oversize frame): the run ends, its container is removed. */
  sandbox_protocol_error: 502,
  no_worker: 503,
  worker_shutdown: 503,
  console_starting: 503,
  deadline_exceeded: 504,
  disk_full: 507,
} as const satisfies Record<string, number>;

/** Every error code either side may answer. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** The body of every REST error: the message (the established field) and its registry code. */
export interface ErrorBody {
  error: string;
  code: ErrorCode;
}

/** The HTTP status of each code. */
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

/** True when `code` is in the registry (a worker's string is data until checked). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, code);
}

/** Codes of a call no worker could take, or whose worker went away. */
export const WORKER_UNAVAILABLE_ERRORS = [
  "no_capacity",
  "no_worker",
  "worker_disconnected",
  "worker_shutdown",
] as const satisfies readonly ErrorCode[];

/** Codes after which the same call may succeed unchanged a little later. */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ...WORKER_UNAVAILABLE_ERRORS,
  "account_run_limit",
  "account_session_limit",
  "login_throttled",
  "console_starting",
]);

/** Codes of any call inside a session: a bad input, a missing session, one busy with another call. */
export const SESSION_CALL_ERRORS = [
  "invalid_argument",
  "session_not_found",
  "session_busy",
] as const satisfies readonly ErrorCode[];
/** Codes of a call that touches a file in a session. */
export const FILE_ERRORS = ["file_not_found", "path_is_directory", "file_too_large"] as const satisfies readonly ErrorCode[];
/** Codes that end a run on a worker early: its deadline, a cancel, a broken worker. */
export const RUN_END_ERRORS = ["deadline_exceeded", "canceled", "worker_error"] as const satisfies readonly ErrorCode[];

/**
 * Codes a worker may put in `CommandError.code`; anything else it sends is reported as
 * `worker_error`, so a worker cannot make the console answer, say, `unauthenticated`.
 */
export const WORKER_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ...SESSION_CALL_ERRORS,
  ...FILE_ERRORS,
  ...RUN_END_ERRORS,
  ...WORKER_UNAVAILABLE_ERRORS,
  "protocol_error",
  "sandbox_protocol_error",
  "disk_full",
]);

/** The code a bare HTTP status stands for (a library's HTTPException carries only a status). */
const GENERIC_CODE_OF_STATUS: Partial<Record<number, ErrorCode>> = {
  400: "invalid_argument",
  401: "unauthenticated",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  410: "gone",
  413: "payload_too_large",
  415: "unsupported_media_type",
  426: "upgrade_required",
  429: "no_capacity",
  502: "worker_error",
  503: "no_worker",
  504: "deadline_exceeded",
};

/** The registry code for an HTTP status; statuses without one count as `internal`. */
export function codeForStatus(status: number): ErrorCode {
  return GENERIC_CODE_OF_STATUS[status] ?? "internal";
}

/**
 * The HTTP status of a task that ended `failed` with `code` (API contract: "failed
 * no_capacity → 429; failed no_worker → 503; other failure → 502"). The try-later statuses
 * (429, 503) say the task never got to run and keep their status; every other failure
 * happened behind the console, so the answer is 502 and the code in the body says which.
 */
export function failedTaskStatus(code: ErrorCode): 429 | 503 | 502 {
  const status = ERROR_STATUS[code];
  return status === 429 || status === 503 ? status : 502;
}
