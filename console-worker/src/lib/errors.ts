/**
 * One registry of error codes for every boundary: REST maps them to an HTTP status,
 * MCP to `isError` results, and the worker wire carries them in CommandError.code.
 */
export const ERROR_STATUS = {
  invalid_argument: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  session_not_found: 404,
  file_not_found: 404,
  path_is_directory: 400,
  file_too_large: 413,
  payload_too_large: 413,
  conflict: 409,
  session_busy: 409,
  canceled: 409,
  gone: 410,
  no_capacity: 429,
  account_session_limit: 429,
  account_run_limit: 429,
  no_worker: 503,
  worker_disconnected: 502,
  worker_error: 502,
  console_restarted: 502,
  deadline_exceeded: 504,
  internal: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, code);
}

/** An error with a code from the registry; `message` is safe to show to a client. */
export class AppError extends Error {
  readonly code: ErrorCode;
  override readonly cause?: unknown;
  constructor(code: ErrorCode, message: string, cause?: unknown) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.cause = cause;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  /** Normalise anything caught into an AppError; unknown errors become `internal` without leaking details. */
  static from(err: unknown): AppError {
    if (err instanceof AppError) return err;
    if (err && typeof err === "object" && "code" in err && "message" in err) {
      const code = String((err as { code: unknown }).code);
      if (isErrorCode(code)) return new AppError(code, String((err as { message: unknown }).message), err);
    }
    return new AppError("internal", "internal error", err);
  }
}
