import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";

/** What an admission answers: admitted, or refused with how many the account holds. */
export type Admission = { ok: true } | { ok: false; held: number };

/** Entries keyed by id, each with the time after which it may be presumed gone (unix ms). */
type Holds = Record<string, number>;

const RUNS_KEY = "runs";
const SESSIONS_KEY = "sessions";

/** How many run admissions may wait at once per account before the next is refused at once. */
const DEFAULT_RUN_QUEUE_MAX = 256;

interface RunWaiter {
  runId: string;
  expiresAt: number;
  admit: () => void;
}

/**
 * One per account (named by the account id): counts the account's fresh-container runs and
 * open terminal sessions, so no account can take every slot or session the workers have.
 *
 * Every hold has an expiry, so a hold whose release never arrives (a console isolate died
 * mid-run) still ends: a run at its deadline plus grace, a session when its Session object
 * says it is gone. Check-and-set runs synchronously, so no other call interleaves with it.
 *
 * Runs are counted in memory, where admission and release cost no storage write; the
 * storage keeps a copy only while the account holds at least half its limit (and until
 * that copy is empty again), written without holding the answer back. An object that
 * restarts reads that copy back, so an account near its limit stays held to it; one far
 * from it can at worst lose holds that were far from mattering.
 */
export class AccountLimits extends DurableObject<Env> {
  private readonly runs: Holds;
  private runsStored: boolean;
  private readonly runWaiters: RunWaiter[] = [];
  /** The limit the callers pass (the console's setting, the same for every call). */
  private limitSeen = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.runs = ctx.storage.kv.get<Holds>(RUNS_KEY) ?? {};
    this.runsStored = Object.keys(this.runs).length > 0;
  }

  /**
   * Admits one run while the account has fewer than `limit` unexpired runs. With
   * `waitUntil` in the future a run over the limit waits (in arrival order) for another to
   * end, until then; past it, or with RUN_QUEUE_MAX already waiting, it is refused.
   */
  async acquireRun(runId: string, expiresAt: number, limit: number, waitUntil = 0): Promise<Admission> {
    const first = this.tryRun(runId, expiresAt, limit);
    if (first.ok || waitUntil <= Date.now() || this.runWaiters.length >= DEFAULT_RUN_QUEUE_MAX) return first;
    return new Promise<Admission>((resolve) => {
      const waiter: RunWaiter = {
        runId,
        expiresAt,
        admit: () => {
          clearTimeout(timer);
          resolve({ ok: true });
        },
      };
      const timer = setTimeout(() => {
        const i = this.runWaiters.indexOf(waiter);
        if (i >= 0) this.runWaiters.splice(i, 1);
        resolve({ ok: false, held: this.liveRuns() });
      }, waitUntil - Date.now());
      this.runWaiters.push(waiter);
      this.limitSeen = limit;
    });
  }

  /** Ends a run's hold (success, failure, timeout, cancel and disconnect all pass here). */
  releaseRun(runId: string): void {
    if (!(runId in this.runs)) return;
    delete this.runs[runId];
    this.admitWaiters();
    this.storeRuns();
  }

  private tryRun(runId: string, expiresAt: number, limit: number): Admission {
    const held = this.liveRuns();
    if (!(runId in this.runs) && (held >= limit || this.runWaiters.length > 0)) return { ok: false, held };
    this.runs[runId] = expiresAt;
    this.limitSeen = limit;
    this.storeRuns();
    return { ok: true };
  }

  /** Hands freed places to waiting runs, first come first served. */
  private admitWaiters(): void {
    while (this.runWaiters.length > 0 && this.liveRuns() < this.limitSeen) {
      const w = this.runWaiters.shift();
      if (!w) break;
      this.runs[w.runId] = w.expiresAt;
      w.admit();
    }
  }

  /** Unexpired runs (expired ones are dropped on the way). */
  private liveRuns(): number {
    const now = Date.now();
    let n = 0;
    for (const [id, until] of Object.entries(this.runs)) {
      if (until <= now) delete this.runs[id];
      else n++;
    }
    return n;
  }

  /** Keeps the durable copy while it matters: at half the limit or more, and until it is empty again. */
  private storeRuns(): void {
    const n = Object.keys(this.runs).length;
    if (n * 2 < this.limitSeen && !this.runsStored) return;
    this.runsStored = n > 0;
    // The answer does not wait for the write: a crash in that instant loses one hold at most.
    this.ctx.storage.put(RUNS_KEY, { ...this.runs }, { allowUnconfirmed: true }).catch(() => {
      // A failed write leaves the memory count in charge, as below half the limit.
    });
  }

  /**
   * Admits a new session while the account has fewer than `limit` open. At the limit, the
   * sessions whose recorded expiry has passed are asked whether they still live (a lease
   * may have been extended since, or the session may be gone without a release).
   */
  async acquireSession(accountId: string, sessionId: string, expiresAt: number, limit: number): Promise<Admission> {
    const first = this.admitSession(sessionId, expiresAt, limit);
    if (first.ok) return first;
    const now = Date.now();
    const due = Object.entries(this.read(SESSIONS_KEY)).filter(([, until]) => until <= now);
    if (due.length === 0) return first;
    const checked = await Promise.all(
      due.map(async ([id]) => {
        const stub = this.env.SESSION.get(this.env.SESSION.idFromName(`${accountId}:${id}`));
        return [id, await stub.liveUntil().catch(() => Number.POSITIVE_INFINITY)] as const;
      }),
    );
    const sessions = this.read(SESSIONS_KEY);
    for (const [id, until] of checked) {
      if (!(id in sessions)) continue;
      if (until === null) delete sessions[id];
      else sessions[id] = Number.isFinite(until) ? until : now + 60_000;
    }
    this.ctx.storage.kv.put(SESSIONS_KEY, sessions);
    return this.admitSession(sessionId, expiresAt, limit);
  }

  /** Ends a session's hold (deleted, expired, timed out or lost with its worker). */
  releaseSession(sessionId: string): void {
    const sessions = this.read(SESSIONS_KEY);
    if (!(sessionId in sessions)) return;
    delete sessions[sessionId];
    this.ctx.storage.kv.put(SESSIONS_KEY, sessions);
  }

  /** The ids of the sessions the account holds (some may have just ended: ask each Session). */
  sessionIds(): string[] {
    return Object.keys(this.read(SESSIONS_KEY));
  }

  /** What the account holds now (for tests and the admin view). */
  held(): { runs: number; sessions: number } {
    return { runs: this.liveRuns(), sessions: Object.keys(this.read(SESSIONS_KEY)).length };
  }

  private admitSession(sessionId: string, expiresAt: number, limit: number): Admission {
    const sessions = this.read(SESSIONS_KEY);
    const held = Object.keys(sessions).length;
    if (!(sessionId in sessions) && held >= limit) return { ok: false, held };
    sessions[sessionId] = Math.max(sessions[sessionId] ?? 0, expiresAt);
    this.ctx.storage.kv.put(SESSIONS_KEY, sessions);
    return { ok: true };
  }

  private read(key: string): Holds {
    return this.ctx.storage.kv.get<Holds>(key) ?? {};
  }
}

/** The AccountLimits instance of an account. */
export function accountLimitsStub(env: Env, accountId: string): DurableObjectStub<AccountLimits> {
  return env.ACCOUNT_LIMITS.get(env.ACCOUNT_LIMITS.idFromName(accountId));
}
