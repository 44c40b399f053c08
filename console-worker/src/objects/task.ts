import { DurableObject } from "cloudflare:workers";
import { CAPABILITY_CONTRACTS, isCapabilityName } from "@onlyboxes/proto";
import { and, eq, inArray } from "drizzle-orm";
import { type CapabilityCall, runCapability } from "../capabilities/run-capability.ts";
import { type Db, getDb } from "../db/client.ts";
import { type TaskStatus, tasks } from "../db/schema.ts";
import type { Env } from "../env.ts";
import { cancelDispatched } from "../lib/dispatch.ts";
import { AppError, type ErrorCode } from "../lib/errors.ts";
import { type OutputListener, OutputLog } from "../lib/output-log.ts";

/** One row of the `tasks` table, as the Task object and the routes pass it around. */
export type TaskRow = typeof tasks.$inferSelect;

/** Statuses a task moves through before it ends, in order. */
export const ACTIVE_STATUSES = ["queued", "dispatched", "running"] as const satisfies readonly TaskStatus[];
type ActiveStatus = (typeof ACTIVE_STATUSES)[number];
type ProgressStatus = Exclude<ActiveStatus, "queued">;

/** True for succeeded, failed, timeout and canceled: statuses a task never leaves. */
export function isTerminalStatus(status: TaskStatus): boolean {
  return !(ACTIVE_STATUSES as readonly TaskStatus[]).includes(status);
}

/** How a run ended, before it is written to D1. */
type Outcome =
  | { status: "succeeded"; result: unknown }
  | { status: "failed" | "timeout" | "canceled"; code: ErrorCode; message: string };

/**
 * What the object keeps in its storage for one unfinished task (D1 holds the task itself),
 * under `task:<id>`. Written once the run is RECORD_AFTER_MS old, or when its outcome
 * cannot reach D1: most tasks end sooner and never touch the object's storage.
 */
interface Stored {
  taskId: string;
  commandId: string;
  deadlineAt: number;
  /** When this task next needs the alarm (absent in records of the one-task-per-object era: at once). */
  alarmAt?: number;
  /** The node the command was placed on, so a lost run can still be canceled there. */
  nodeId?: string;
  /** The outcome, once known, until its D1 write succeeds (the alarm retries it). */
  outcome?: Outcome;
  /** Failed attempts to write `outcome`. */
  attempts?: number;
}

interface Run {
  controller: AbortController;
  deadlineAt: number;
  /** The latest row this object wrote or was given; answers "still running" snapshots without a D1 read. */
  row: TaskRow;
  /** Why the run was aborted; the first of cancel or deadline wins. */
  stop: "cancel" | "deadline" | null;
  /** The outcome is known (its D1 write may still be in flight): aborting is too late. */
  settled: boolean;
  /** The furthest progress reached, and whether a write of it is scheduled. */
  progress: ProgressStatus | null;
  progressScheduled: boolean;
  /** Progress writes, chained so they reach D1 in order. */
  writes: Promise<void>;
  /** Whether the record (and its alarm) has been written, or its write issued. */
  recorded: boolean;
  /** The node id the record holds. */
  recordedNodeId?: string;
  nodeId?: string;
  /** The run's output so far, for event-stream watchers (GET /api/v1/tasks/{id}/events). */
  output: OutputLog;
  /** Resolves with the terminal row once D1 has it (null when the row vanished, e.g. its account was deleted). */
  done: Promise<TaskRow | null>;
}

/** Storage keys: a task's record, and the mark of a cancel that came before the task's start. */
const RECORD_PREFIX = "task";
const recordKey = (taskId: string) => `${RECORD_PREFIX}:${taskId}`;
const CANCELED_PREFIX = "canceled";
const canceledKey = (taskId: string) => `${CANCELED_PREFIX}:${taskId}`;
/** How long a cancel's mark waits for a start that may still come (the start follows the insert at once). */
const CANCELED_MARK_MS = 10 * 60_000;

/** The result of a cancel request: the task as it is now and whether this call canceled it. */
export interface CancelResult {
  row: TaskRow | null;
  canceled: boolean;
}

/** The Task object that drives the tasks of `accountId`. */
export function taskObject(env: Env, accountId: string): DurableObjectStub<Task> {
  return env.TASK.get(env.TASK.idFromName(`account:${accountId}`));
}

/**
 * Drives an account's tasks (one object per account, so a task costs no new object and
 * no new database) each to a terminal state, independently of the HTTP request that
 * created it: it runs the command, enforces the deadline with an alarm, handles cancel,
 * and keeps the D1 row in step (queued → dispatched → running → terminal) with
 * check-and-set writes that never overwrite a terminal row. D1 is the record; this
 * object's storage only remembers unfinished tasks so an alarm can settle a lost run.
 */
export class Task extends DurableObject<Env> {
  private readonly runs = new Map<string, Run>();
  /** Alarm changes, chained: each reads the alarm before it moves it. */
  private arming: Promise<void> = Promise.resolve();

  private get db(): Db {
    return getDb(this.env);
  }

  /**
   * Starts the task whose `queued` row the caller has just inserted, then waits up to
   * `waitMs` for it to end. Returns the row: terminal, or still running after `waitMs`.
   * A second call for the same task while it runs does not run it twice.
   *
   * With `insert` the row is not in D1 yet (a task without request_id, so nothing to
   * deduplicate, and no cancel can have come before): this object inserts it while the
   * run starts, answers only once it is in (a failed insert aborts the run and rejects),
   * and writes the outcome after it.
   */
  async start(row: TaskRow, waitMs: number, opts: { insert?: boolean } = {}): Promise<TaskRow | null> {
    const running = this.runs.get(row.id);
    if (running) return this.waitFor(running, waitMs);
    if (opts.insert === true) return this.insertAndStart(row, waitMs);
    const saved = await this.ctx.storage.get([recordKey(row.id), canceledKey(row.id)]);
    let run = this.runs.get(row.id);
    if (!run) {
      if (saved.has(recordKey(row.id)) || saved.has(canceledKey(row.id))) {
        if (saved.has(canceledKey(row.id))) await this.ctx.storage.delete(canceledKey(row.id));
        return readRow(this.db, row.id);
      }
      run = this.launch(row);
    }
    return this.waitFor(run, waitMs);
  }

  private async insertAndStart(row: TaskRow, waitMs: number): Promise<TaskRow | null> {
    const inserted = this.db
      .insert(tasks)
      .values(row)
      .run()
      .then(() => undefined);
    const run = this.launch(row, inserted);
    try {
      await inserted;
    } catch (err) {
      // Nothing may run for a task with no row: stop the command where it was placed.
      if (!run.settled) {
        run.stop ??= "cancel";
        run.controller.abort(new AppError("canceled", "the task could not be recorded"));
      }
      logError("task: could not insert its row", row.id, err);
      throw new AppError("internal", "the task could not be recorded");
    }
    return this.waitFor(run, waitMs);
  }

  /**
   * Cancels the task: aborts the running command (the worker gets a cancel frame and stops
   * the container) and waits for the terminal row. `canceled` is false when the task had
   * already ended (or ended some other way meanwhile).
   */
  async cancel(taskId: string): Promise<CancelResult> {
    const run = this.runs.get(taskId);
    if (run) {
      if (!run.settled) {
        run.stop ??= "cancel";
        run.controller.abort(new AppError("canceled", "the task was canceled"));
      }
      const row = await run.done;
      return { row, canceled: row?.status === "canceled" && run.stop === "cancel" };
    }
    // No run in memory: the task ended, has not started yet, or its run was lost.
    const key = recordKey(taskId);
    const stored = await this.ctx.storage.get<Stored>(key);
    if (stored?.outcome) {
      // The run ended while D1 was failing: its own outcome stands, not a late cancel.
      const row = await this.retryFinal(key, stored);
      return { row: row ?? (await readRow(this.db, taskId)), canceled: false };
    }
    const row = await settleRow(this.db, taskId, {
      status: "canceled",
      code: "canceled",
      message: "the task was canceled",
    });
    if (!row.changed) return { row: row.row, canceled: false };
    if (stored?.nodeId !== undefined) {
      await cancelDispatched(this.env, stored.nodeId, stored.commandId, "task canceled").catch(() => false);
    }
    if (stored) await this.ctx.storage.delete(key);
    // A start that arrives after this cancel must not run the task.
    const until = Date.now() + CANCELED_MARK_MS;
    await this.ctx.storage.put(canceledKey(taskId), until);
    await this.armFor(until);
    return { row: row.row, canceled: true };
  }

  /**
   * Fires for the earliest time any task here needs it: every HEARTBEAT_MS while a task
   * runs (an incoming event, so a long run is never taken for an idle object) and at its
   * deadline. For each task due: aborts a run still in progress past its deadline
   * (→ `timeout`), retries an outcome D1 refused, or settles a run this object lost. Then
   * sets itself for the next task due, or clears itself when none is left.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const records = await this.ctx.storage.list<Stored>({ prefix: RECORD_PREFIX });
    const work: Promise<unknown>[] = [];
    for (const [key, stored] of records) {
      if ((stored.alarmAt ?? 0) > now) continue;
      const run = this.runs.get(stored.taskId);
      if (run) {
        if (!run.settled && now < run.deadlineAt) {
          work.push(this.ctx.storage.put<Stored>(key, { ...stored, alarmAt: nextAlarm(run.deadlineAt) }));
          continue;
        }
        if (!run.settled) {
          run.stop ??= "deadline";
          run.controller.abort(new AppError("deadline_exceeded", "the task passed its deadline"));
        }
        work.push(run.done);
      } else if (stored.outcome) {
        work.push(this.retryFinal(key, stored));
      } else {
        work.push(this.settleLost(key, stored));
      }
    }
    const marks = await this.ctx.storage.list<number | boolean>({ prefix: CANCELED_PREFIX });
    const expired = [...marks].filter(([, until]) => typeof until !== "number" || until <= now).map(([key]) => key);
    if (expired.length > 0) work.push(this.ctx.storage.delete(expired));
    await Promise.all(work);
    await this.rearm();
  }

  /**
   * The run of this record is gone from memory while the task is unfinished: the console
   * restarted (or this object was evicted) mid-run, so nothing will ever deliver its result.
   */
  private async settleLost(key: string, stored: Stored): Promise<void> {
    if (stored.nodeId !== undefined) {
      await cancelDispatched(this.env, stored.nodeId, stored.commandId, "task lost").catch(() => false);
    }
    await this.retryFinal(key, {
      ...stored,
      outcome: { status: "failed", code: "console_restarted", message: "the console restarted before the task finished" },
    });
  }

  /**
   * Writes a known outcome to D1 and then forgets the task; answers the row as written. While D1 refuses
   * the write the record stays, and the alarm tries again with backoff, so the task always
   * ends once D1 is back (a request_id is never held by a row nobody will finish). After
   * FALLBACK_AFTER_ATTEMPTS the write falls back to a plain failure, in case the outcome
   * itself is what D1 refuses.
   */
  private async retryFinal(key: string, stored: Stored): Promise<TaskRow | null> {
    const outcome = stored.outcome;
    if (!outcome) return null;
    const attempts = (stored.attempts ?? 0) + 1;
    try {
      let written: { row: TaskRow | null };
      try {
        written = await settleRow(this.db, stored.taskId, outcome);
      } catch (err) {
        if (attempts < FALLBACK_AFTER_ATTEMPTS) throw err;
        logError("task: the outcome keeps failing to be recorded; recording a failure instead", stored.taskId, err);
        written = await settleRow(this.db, stored.taskId, UNRECORDABLE);
      }
      await this.ctx.storage.delete(key);
      return written.row;
    } catch (err) {
      logError(`task: could not record the outcome (attempt ${attempts}); retrying`, stored.taskId, err);
      const alarmAt = Date.now() + retryDelayMs(attempts);
      await this.ctx.storage.put<Stored>(key, { ...stored, attempts, alarmAt });
      await this.armFor(alarmAt);
      return null;
    }
  }

  private launch(row: TaskRow, inserted?: Promise<void>): Run {
    const run: Run = {
      controller: new AbortController(),
      deadlineAt: row.deadlineAt,
      row,
      stop: null,
      settled: false,
      progress: null,
      progressScheduled: false,
      writes: inserted ? inserted.catch(() => undefined) : Promise.resolve(),
      recorded: false,
      output: new OutputLog(),
      done: Promise.resolve(null),
    };
    this.runs.set(row.id, run);
    run.done = this.drive(row, run, inserted);
    return run;
  }

  /** Runs the command and writes the outcome; never rejects. */
  private async drive(row: TaskRow, run: Run, inserted?: Promise<void>): Promise<TaskRow | null> {
    let outcome: Outcome;
    try {
      const call = parseCall(row);
      this.advance(run, row, "dispatched");
      const result = await runCapability(this.env, call, {
        accountId: row.accountId,
        timeoutMs: Math.max(1, row.deadlineAt - Date.now()),
        commandId: row.commandId,
        signal: run.controller.signal,
        onOutput: (chunk) => run.output.append(chunk),
        onPlaced: (placement) => {
          this.advance(run, row, "running", placement.nodeId);
        },
      });
      outcome = { status: "succeeded", result };
    } catch (err) {
      outcome = outcomeOf(err, run.stop, row);
    }
    run.settled = true;
    // The worker node delivers every chunk before the result: the output is complete here.
    run.output.end();
    const desired = storable(outcome);
    const end = (final: TaskRow | null) => {
      if (this.runs.get(row.id) === run) this.runs.delete(row.id);
      return final;
    };
    if (inserted) {
      try {
        await inserted;
      } catch {
        // The row never made it to D1 (start rejected): there is nothing to record.
        if (run.recorded) await this.forget(row.id);
        return end(null);
      }
    }
    const now = Date.now();
    // No need to wait for the progress writes: they only apply to unfinished rows, so one
    // landing after this write changes nothing.
    const provisional = withOutcome(run.row, desired, now);
    const settling = settleRow(this.db, row.id, desired, now, provisional);
    // Waiters get the outcome once D1 holds it, so whatever the answer prompts (a poll, a
    // repeated request_id, a metrics scrape) reads the same. If D1 refuses the write, the
    // record and the alarm below keep the outcome until D1 takes it.
    run.row = provisional;
    let final: TaskRow | null;
    try {
      final = (await settling).row;
    } catch (err) {
      // D1 refused (full disk, outage): keep the record and the alarm, with the outcome, so
      // the alarm writes it later.
      logError("task: could not record the outcome; the alarm will retry", row.id, err);
      await this.keepForRetry(row, desired);
      return end(run.row);
    }
    if (final) run.row = final;
    if (run.recorded) this.ctx.waitUntil(this.forget(row.id));
    return end(final);
  }

  /**
   * Drops the record of a task that ended, and moves or clears the alarm. Waiters need not
   * wait for it: if it is lost, the next alarm finds the row finished and forgets it then.
   */
  private forget(taskId: string): Promise<void> {
    return this.ctx.storage
      .delete(recordKey(taskId), { allowUnconfirmed: true })
      .then(() => this.rearm())
      .catch((err: unknown) => logError("task: could not clear its record", taskId, err));
  }

  /** Stores the outcome in the task's record and sets the alarm for the first retry. */
  private async keepForRetry(row: TaskRow, outcome: Outcome): Promise<void> {
    const key = recordKey(row.id);
    const alarmAt = Date.now() + retryDelayMs(1);
    const base: Stored = { taskId: row.id, commandId: row.commandId, deadlineAt: row.deadlineAt };
    const saved = await this.ctx.storage.get<Stored>(key);
    try {
      await this.ctx.storage.put<Stored>(key, { ...base, ...saved, outcome, attempts: 1, alarmAt });
    } catch (err) {
      // The outcome itself may be too large for this object's storage: keep a failure instead.
      logError("task: could not keep the outcome for a retry", row.id, err);
      await this.ctx.storage.put<Stored>(key, { ...base, ...saved, outcome: UNRECORDABLE, attempts: 1, alarmAt });
    }
    await this.armFor(alarmAt);
  }

  /**
   * Records progress (dispatched, then running). The writes wait RECORD_AFTER_MS, then keep
   * the record and the alarm in this object's storage and write the furthest status reached
   * by then to D1, so a task that ends sooner costs neither; the row still only moves forward
   * and never leaves a terminal status.
   */
  private advance(run: Run, row: TaskRow, status: ProgressStatus, nodeId?: string): void {
    if (run.progress === null || ACTIVE_STATUSES.indexOf(status) > ACTIVE_STATUSES.indexOf(run.progress)) {
      run.progress = status;
    }
    if (nodeId !== undefined) run.nodeId = nodeId;
    if (run.progressScheduled) return;
    run.progressScheduled = true;
    setTimeout(() => {
      run.progressScheduled = false;
      if (run.settled) return;
      this.keepRecord(run, row).catch((err: unknown) => logError("task: could not keep its record", row.id, err));
      run.writes = run.writes
        .then(() => this.writeProgress(run, row.id))
        .catch((err: unknown) => logError("task: could not record progress", row.id, err));
    }, RECORD_AFTER_MS);
  }

  /**
   * Keeps what a lost run needs in this object's storage: the record (with the node, so the
   * run can still be canceled there) and the alarm, which settles the task if this object
   * loses the run (a self-hosted console's restart is also settled by its boot bookkeeping).
   */
  private async keepRecord(run: Run, row: TaskRow): Promise<void> {
    if (run.recorded && run.recordedNodeId === run.nodeId) return;
    const alarmAt = nextAlarm(row.deadlineAt);
    const record: Stored = { taskId: row.id, commandId: row.commandId, deadlineAt: row.deadlineAt, alarmAt };
    if (run.nodeId !== undefined) record.nodeId = run.nodeId;
    run.recordedNodeId = run.nodeId;
    if (run.recorded) {
      // Best effort (only a lost run needs the node): not worth holding any answer back for.
      await this.ctx.storage.put<Stored>(recordKey(row.id), record, { allowUnconfirmed: true });
      return;
    }
    run.recorded = true;
    await this.ctx.storage.put<Stored>(recordKey(row.id), record);
    await this.armFor(alarmAt);
  }

  private async writeProgress(run: Run, taskId: string): Promise<void> {
    const status = run.progress;
    if (run.settled || status === null) return;
    const earlier = ACTIVE_STATUSES.slice(0, ACTIVE_STATUSES.indexOf(status));
    const updated = await this.db
      .update(tasks)
      .set({ status, updatedAt: Date.now() })
      .where(and(eq(tasks.id, taskId), inArray(tasks.status, earlier)))
      .returning();
    if (updated[0] && !run.settled) run.row = updated[0];
  }

  /** Moves the alarm earlier to `at` (never later: another task may need it sooner). */
  private armFor(at: number): Promise<void> {
    return this.chainAlarm(async () => {
      const current = await this.ctx.storage.getAlarm();
      if (current === null || at < current) await this.ctx.storage.setAlarm(at);
    });
  }

  /** Sets the alarm for the earliest task (or cancel mark) that needs it, or clears it when none does. */
  private rearm(): Promise<void> {
    return this.chainAlarm(async () => {
      const records = await this.ctx.storage.list<Stored>({ prefix: RECORD_PREFIX });
      const marks = await this.ctx.storage.list<number | boolean>({ prefix: CANCELED_PREFIX });
      const times = [
        ...[...records.values()].map((r) => r.alarmAt ?? 0),
        ...[...marks.values()].map((until) => (typeof until === "number" ? until : 0)),
      ];
      if (times.length === 0) await this.ctx.storage.deleteAlarm();
      else await this.ctx.storage.setAlarm(Math.max(Date.now(), Math.min(...times)));
    });
  }

  private chainAlarm(change: () => Promise<void>): Promise<void> {
    const next = this.arming.then(change);
    this.arming = next.catch(() => undefined);
    return next;
  }

  /**
   * Hands the running task's output to `listener`: everything written so far, then the
   * rest as it comes, each chunk once and in order. Resolves with the row once the run has
   * ended (or at once when the listener fails: its client went away). Without a run in this object (finished, not started, or
   * lost) it resolves at once with the row as it is.
   */
  async watch(taskId: string, listener: OutputListener): Promise<TaskRow | null> {
    const run = this.runs.get(taskId);
    if (!run) return readRow(this.db, taskId);
    const followed = await run.output.follow(listener);
    return followed ? run.done : run.row;
  }

  private async waitFor(run: Run, waitMs: number): Promise<TaskRow | null> {
    if (waitMs <= 0) return run.row;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), waitMs);
    });
    const ended = await Promise.race([run.done.then((row) => ({ row })), timedOut]);
    clearTimeout(timer);
    return ended ? ended.row : run.row;
  }
}

/** Failed outcome writes after which a plain failure is written instead of the outcome. */
const FALLBACK_AFTER_ATTEMPTS = 5;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 60_000;

/** What is written when the outcome itself cannot be. */
const UNRECORDABLE: Outcome = {
  status: "failed",
  code: "internal",
  message: "the task finished but its outcome could not be recorded",
};

/** Backoff between outcome writes: 1 s, 2 s, 4 s … up to a minute. */
function retryDelayMs(attempts: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1));
}

/** The row as it will be once `outcome` is written (what waiters see while D1 is failing). */
function withOutcome(row: TaskRow, outcome: Outcome, now: number): TaskRow {
  return {
    ...row,
    status: outcome.status,
    result: outcome.status === "succeeded" ? JSON.stringify(outcome.result ?? null) : null,
    errorCode: outcome.status === "succeeded" ? null : outcome.code,
    errorMessage: outcome.status === "succeeded" ? null : outcome.message,
    updatedAt: now,
    completedAt: now,
  };
}

/**
 * A run younger than this has no record, alarm or progress written: most short tasks end
 * first, and each of those writes cost a pythonExec run of a few tens of ms a round trip
 * on its critical path (a progress write sits ahead of the outcome's in the same database).
 */
const RECORD_AFTER_MS = 150;
/** How often the alarm looks at a running task before its deadline. */
const HEARTBEAT_MS = 30_000;

function nextAlarm(deadlineAt: number): number {
  return Math.min(deadlineAt, Date.now() + HEARTBEAT_MS);
}

/** Rebuilds the validated capability call from the stored row (validated again: the row is data, not trust). */
function parseCall(row: TaskRow): CapabilityCall {
  if (!isCapabilityName(row.capability)) throw new AppError("invalid_argument", `unknown capability ${row.capability}`);
  const parsed = CAPABILITY_CONTRACTS[row.capability].input.safeParse(JSON.parse(row.input));
  if (!parsed.success) throw new AppError("invalid_argument", "the task input no longer validates");
  return { capability: row.capability, payload: parsed.data } as CapabilityCall;
}

function outcomeOf(err: unknown, stop: Run["stop"], row: TaskRow): Outcome {
  const e = AppError.from(err);
  if (e.code === "internal") logError("task: run failed", row.id, err);
  if (stop === "deadline" || (stop === null && e.code === "deadline_exceeded")) {
    const ms = row.deadlineAt - row.createdAt;
    return {
      status: "timeout",
      code: "deadline_exceeded",
      message: `the task did not finish within its timeout_ms (${ms} ms)`,
    };
  }
  if (stop === "cancel" || e.code === "canceled") {
    return { status: "canceled", code: "canceled", message: "the task was canceled" };
  }
  return { status: "failed", code: e.code, message: e.message };
}

/** D1 refuses rows above 2 MB; a larger result is reported instead of lost in a failed write. */
const MAX_RESULT_BYTES = 1_900_000;

function storable(outcome: Outcome): Outcome {
  if (outcome.status !== "succeeded") return outcome;
  const size = new TextEncoder().encode(JSON.stringify(outcome.result ?? null)).byteLength;
  if (size <= MAX_RESULT_BYTES) return outcome;
  return {
    status: "failed",
    code: "payload_too_large",
    message: `the result is ${size} bytes, more than the ${MAX_RESULT_BYTES} a task can keep; print less output`,
  };
}

export async function readRow(db: Db, taskId: string): Promise<TaskRow | null> {
  const row = await db.select().from(tasks).where(eq(tasks.id, taskId)).get();
  return row ?? null;
}

/**
 * Writes a terminal outcome if the row is still unfinished (check-and-set: a terminal row
 * is never overwritten). Returns the row as it now is and whether this call changed it.
 */
async function settleRow(
  db: Db,
  taskId: string,
  outcome: Outcome,
  now = Date.now(),
  /** The row as this write will leave it (withOutcome at `now`), when the caller has it: nothing is read back. */
  expected?: TaskRow,
): Promise<{ row: TaskRow | null; changed: boolean }> {
  const values =
    outcome.status === "succeeded"
      ? { result: JSON.stringify(outcome.result ?? null), errorCode: null, errorMessage: null }
      : { result: null, errorCode: outcome.code, errorMessage: outcome.message };
  const update = db
    .update(tasks)
    .set({ status: outcome.status, ...values, updatedAt: now, completedAt: now })
    .where(and(eq(tasks.id, taskId), inArray(tasks.status, [...ACTIVE_STATUSES])));
  if (expected) {
    // A result can be megabytes: not worth sending back when the caller already holds it.
    const written = await update.run();
    if (written.meta.changes > 0) return { row: expected, changed: true };
  } else {
    const updated = await update.returning();
    if (updated[0]) return { row: updated[0], changed: true };
  }
  return { row: await readRow(db, taskId), changed: false };
}

function logError(msg: string, taskId: string, err: unknown): void {
  const detail = err instanceof Error ? `${err.name}: ${err.message.split("\nparams:")[0] ?? ""}` : String(err);
  console.error(JSON.stringify({ level: "error", msg, component: "task", taskId, error: detail }));
}
