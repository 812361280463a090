import type { EntityManager } from 'typeorm';

/** A customer's login lock as a batch has it so far: stored, then extended by the batch's LOCK_LOGIN hits. */
export type LoginLock = { lockedSince: Date; lockedUntil: Date; lifted: boolean };

/** The stored login locks of these customers, to be extended in memory as the batch's hits lock them. */
export async function storedLoginLocks(manager: EntityManager, customerIds: string[]): Promise<Map<string, LoginLock>> {
  if (!customerIds.length) return new Map();
  const rows = (await manager.query(`SELECT customer_id, locked_since, locked_until, lifted_at IS NOT NULL AS lifted FROM login_lock WHERE customer_id = ANY($1::uuid[])`, [[...new Set(customerIds)]])) as Array<{
    customer_id: string; locked_since: Date; locked_until: Date; lifted: boolean;
  }>;
  return new Map(rows.map((r) => [r.customer_id, { lockedSince: r.locked_since, lockedUntil: r.locked_until, lifted: r.lifted }]));
}

/** Only logins inside the lock's span are blocked: a back-filled login from before the burst is not. */
export function isLocked(lock: LoginLock | undefined, at: Date): boolean {
  return !!lock && !lock.lifted && lock.lockedSince <= at && at < lock.lockedUntil;
}

type Span = { since: Date; until: Date };

/**
 * A lock span after another hit's span: overlapping (or touching) spans merge; a later disjoint one starts a
 * new span (the old one is over); an earlier disjoint one (a back-filled burst) leaves the current span.
 */
export function mergeSpans(current: Span, hit: Span): Span {
  if (hit.since > current.until) return hit;
  if (hit.until < current.since) return current;
  return { since: hit.since < current.since ? hit.since : current.since, until: hit.until > current.until ? hit.until : current.until };
}

/** What the login_lock upsert does to a lock, for the later logins of the batch. */
export function extendLock(locks: Map<string, LoginLock>, customerId: string, span: Span, now: Date): void {
  const lock = locks.get(customerId);
  if (!lock) {
    locks.set(customerId, { lockedSince: span.since, lockedUntil: span.until, lifted: false });
    return;
  }
  if (span.until.getTime() > Math.max(lock.lockedUntil.getTime(), now.getTime())) lock.lifted = false;
  const merged = mergeSpans({ since: lock.lockedSince, until: lock.lockedUntil }, span);
  lock.lockedSince = merged.since;
  lock.lockedUntil = merged.until;
}
