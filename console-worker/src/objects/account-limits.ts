import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";

/** What an admission answers: admitted, or refused with how many the account holds. */
export type Admission = { ok: true } | { ok: false; held: number };

/** Entries keyed by id, each with the time after which it may be presumed gone (unix ms). */
type Holds = Record<string, number>;

const RUNS_KEY = "runs";
const SESSIONS_KEY = "sessions";

/**
 * One per account (named by the account id): counts the account's running commands and
 * open terminal sessions, so no account can take every slot or session the workers have.
 *
 * Every hold is in this object's storage with an expiry, so a hold whose release never
 * arrives (a console isolate died mid-run) still ends: a run at its deadline plus grace,
 * a session when its Session object says it is gone. Check-and-set runs on the
 * synchronous KV API, so no other call interleaves with it.
 */
export class AccountLimits extends DurableObject<Env> {
  /** Admits one run while the account has fewer than `limit` unexpired runs. */
  acquireRun(runId: string, expiresAt: number, limit: number): Admission {
    const now = Date.now();
    const runs = this.read(RUNS_KEY);
    for (const [id, until] of Object.entries(runs)) if (until <= now) delete runs[id];
    const held = Object.keys(runs).length;
    if (!(runId in runs) && held >= limit) {
      this.ctx.storage.kv.put(RUNS_KEY, runs);
      return { ok: false, held };
    }
    runs[runId] = expiresAt;
    this.ctx.storage.kv.put(RUNS_KEY, runs);
    return { ok: true };
  }

  /** Ends a run's hold (success, failure, timeout, cancel and disconnect all pass here). */
  releaseRun(runId: string): void {
    const runs = this.read(RUNS_KEY);
    if (!(runId in runs)) return;
    delete runs[runId];
    this.ctx.storage.kv.put(RUNS_KEY, runs);
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
    return { runs: Object.keys(this.read(RUNS_KEY)).length, sessions: Object.keys(this.read(SESSIONS_KEY)).length };
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
