import { ERROR_STATUS, type ErrorCode, isErrorCode } from "@onlyboxes/proto";

// The registry itself lives in @onlyboxes/proto, shared with the worker.
export { ERROR_STATUS, type ErrorCode, isErrorCode } from "@onlyboxes/proto";

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
