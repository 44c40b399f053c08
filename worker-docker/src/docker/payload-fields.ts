import { CommandFailure } from "../capabilities/types.ts";

/** Reads the fields of a JSON payload, answering `invalid_argument` with the field's name. */
export class PayloadReader {
  private readonly obj: Record<string, unknown>;

  constructor(payload: unknown, capability: string) {
    if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
      throw new CommandFailure("invalid_argument", `${capability} expects a JSON object`);
    }
    this.obj = payload as Record<string, unknown>;
  }

  string(name: string, opts: { maxLength?: number; allowEmpty?: boolean } = {}): string {
    const v = this.obj[name];
    if (typeof v !== "string") throw new CommandFailure("invalid_argument", `${name} must be a string`);
    if (!opts.allowEmpty && v === "") throw new CommandFailure("invalid_argument", `${name} must not be empty`);
    if (opts.maxLength !== undefined && v.length > opts.maxLength) {
      throw new CommandFailure("invalid_argument", `${name} is longer than ${opts.maxLength} characters`);
    }
    return v;
  }

  optionalBool(name: string, def: boolean): boolean {
    const v = this.obj[name];
    if (v === undefined || v === null) return def;
    if (typeof v !== "boolean") throw new CommandFailure("invalid_argument", `${name} must be true or false`);
    return v;
  }

  optionalInt(name: string, min: number, max: number): number | undefined {
    const v = this.obj[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      throw new CommandFailure("invalid_argument", `${name} must be an integer between ${min} and ${max}`);
    }
    return v;
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T {
    const v = this.obj[name];
    if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
      throw new CommandFailure("invalid_argument", `${name} must be one of ${values.join(", ")}`);
    }
    return v as T;
  }
}
