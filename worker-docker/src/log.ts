/** A structured logger writing one JSON object per line; child() adds fixed context. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

/**
 * A logger and its context. A child keeps a link to its parent and merges the context
 * only when it writes a line: every command gets a child, and most never log.
 */
class JsonLogger implements Logger {
  constructor(
    private readonly parent: JsonLogger | null,
    private readonly fields: Record<string, unknown>,
    private readonly threshold: number,
    private readonly write: (line: string) => void,
  ) {}

  private context(): Record<string, unknown> {
    return this.parent ? { ...this.parent.context(), ...this.fields } : this.fields;
  }

  private emit(level: Level, msg: string, fields?: Record<string, unknown>): void {
    if (LEVELS[level] < this.threshold) return;
    this.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...this.context(), ...fields }));
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.emit("debug", msg, fields);
  }

  info(msg: string, fields?: Record<string, unknown>): void {
    this.emit("info", msg, fields);
  }

  warn(msg: string, fields?: Record<string, unknown>): void {
    this.emit("warn", msg, fields);
  }

  error(msg: string, fields?: Record<string, unknown>): void {
    this.emit("error", msg, fields);
  }

  child(fields: Record<string, unknown>): Logger {
    return new JsonLogger(this, fields, this.threshold, this.write);
  }
}

/** Creates a JSON-lines logger on stderr; `minLevel` comes from WORKER_LOG_LEVEL (default info). */
export function createLogger(
  base: Record<string, unknown> = {},
  minLevel: Level = (process.env.WORKER_LOG_LEVEL as Level | undefined) ?? "info",
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Logger {
  return new JsonLogger(null, { ...base }, LEVELS[minLevel] ?? LEVELS.info, write);
}
