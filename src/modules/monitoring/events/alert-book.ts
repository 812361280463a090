import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { toAlertModel } from '../alerts/alerts.service';
import type { AlertModel } from '../models/alert.model';
import { AlertKind, AlertStatus, type Severity } from '../models/monitoring.enums';

/** One rule hit that raises an alert, in the order the batch screens its events. */
export interface AlertHit {
  ruleId: string;
  customerId: string;
  eventId: string;
  severity: Severity;
  occurredAt: Date;
  dedupWindowMs: number;
}

type OpenAlert = AlertModel & { isNew: boolean; repeats: number };

const pairOf = (ruleId: string, customerId: string) => `${ruleId}:${customerId}`;

/**
 * How far a hit at `at` lies outside an alert's span [firstSeenAt, lastSeenAt] (0 inside it), or undefined
 * when the alert does not take it: the hit must lie within the dedup window of the span — after it (the
 * usual case) or before it (a back-filled event). An alert seen today does not absorb a hit from last month.
 */
export function distanceToSpan(a: Pick<AlertModel, 'firstSeenAt' | 'lastSeenAt'>, at: Date, windowMs: number): number | undefined {
  const t = at.getTime();
  if (a.lastSeenAt.getTime() <= t - windowMs || a.firstSeenAt.getTime() >= t + windowMs) return undefined;
  return Math.max(a.firstSeenAt.getTime() - t, t - a.lastSeenAt.getTime(), 0);
}

/**
 * The alerts of a batch, deduplicated one hit at a time (a hit of the same rule and customer within the
 * rule's dedup window of an open alert's span counts one more occurrence of the nearest such alert, whose
 * span grows to take it; else a new alert opens), but decided in memory: `load` locks every (rule, customer) pair the batch raises
 * and reads their open alerts once, `raise` is called hit by hit in screening order (so a later event of the
 * call sees the alert an earlier one opened or repeated), and `write` stores the outcome in two statements.
 */
export class AlertBook {
  private readonly open = new Map<string, OpenAlert[]>();
  /** The copies handed out by `raise`, by alert id: a new alert's createdAt is known only once stored. */
  private readonly handedOut = new Map<string, AlertModel[]>();
  private readonly byId = new Map<string, OpenAlert>();

  async load(manager: EntityManager, hits: readonly AlertHit[]): Promise<void> {
    if (!hits.length) return;
    const since = new Map<string, { ruleId: string; customerId: string; since: number; until: number }>();
    for (const h of hits) {
      const key = pairOf(h.ruleId, h.customerId);
      const from = h.occurredAt.getTime() - h.dedupWindowMs;
      const to = h.occurredAt.getTime() + h.dedupWindowMs;
      const seen = since.get(key);
      if (!seen) since.set(key, { ruleId: h.ruleId, customerId: h.customerId, since: from, until: to });
      else {
        seen.since = Math.min(seen.since, from);
        seen.until = Math.max(seen.until, to);
      }
    }
    const pairs = [...since.values()];
    // The same lock `raise` takes per pair, taken in one order so two batches never wait on each other crosswise.
    await manager.query(
      `SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS locks`,
      [pairs.map((p) => `custos.alert:${p.ruleId}:${p.customerId}`)],
    );
    const rows = (await manager.query(
      `SELECT a.* FROM alert a JOIN unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[]) AS k(rule_id, customer_id, since, until)
          ON a.rule_id = k.rule_id AND a.customer_id = k.customer_id
        WHERE a.status <> 'CLOSED' AND a.last_seen_at > k.since AND a.first_seen_at < k.until
        ORDER BY a.last_seen_at DESC FOR UPDATE OF a`,
      [pairs.map((p) => p.ruleId), pairs.map((p) => p.customerId), pairs.map((p) => new Date(p.since).toISOString()), pairs.map((p) => new Date(p.until).toISOString())],
    )) as Parameters<typeof toAlertModel>[0][];
    for (const row of rows) {
      const stored: OpenAlert = { ...toAlertModel(row), isNew: false, repeats: 0 };
      this.listOf(row.rule_id!, row.customer_id!).push(stored);
      this.byId.set(stored.id, stored);
    }
  }

  /** The alert this hit opens or repeats, as it stands after the hit (a copy). */
  raise(h: AlertHit): { alert: AlertModel; created: boolean } {
    const list = this.listOf(h.ruleId, h.customerId);
    let found: OpenAlert | undefined;
    let nearest = Infinity;
    for (const a of list) {
      const distance = distanceToSpan(a, h.occurredAt, h.dedupWindowMs);
      if (distance === undefined) continue;
      // The nearest span takes the hit; between equals, the alert seen last (as before back-fill mattered).
      if (distance < nearest || (distance === nearest && found && a.lastSeenAt > found.lastSeenAt)) {
        found = a;
        nearest = distance;
      }
    }
    if (found) {
      found.occurrences++;
      found.repeats++;
      if (h.occurredAt > found.lastSeenAt) found.lastSeenAt = h.occurredAt;
      if (h.occurredAt < found.firstSeenAt) found.firstSeenAt = h.occurredAt;
      return { alert: this.handOut(found), created: false };
    }
    const opened: OpenAlert = {
      id: randomUUID(), kind: AlertKind.RULE, severity: h.severity, status: AlertStatus.OPEN, occurrences: 1, disposition: null, eventId: h.eventId,
      assigneeId: null, firstSeenAt: h.occurredAt, lastSeenAt: h.occurredAt, closedAt: null, createdAt: new Date(), ruleId: h.ruleId, customerId: h.customerId,
      accountManagerId: null, isNew: true, repeats: 0,
    };
    list.push(opened);
    this.byId.set(opened.id, opened);
    return { alert: this.handOut(opened), created: true };
  }

  /** Inserts the opened alerts with their final counts and adds the repeats to the stored ones. */
  async write(manager: EntityManager): Promise<void> {
    const all = [...this.open.values()].flat();
    const opened = all.filter((a) => a.isNew);
    const repeated = all.filter((a) => !a.isNew && a.repeats > 0);
    if (opened.length) {
      const rows = (await manager.query(
        `INSERT INTO alert (id, kind, rule_id, customer_id, event_id, severity, occurrences, first_seen_at, last_seen_at)
         SELECT id, 'RULE', rule_id, customer_id, event_id, severity, occurrences, first_seen_at, last_seen_at
           FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, rule_id uuid, customer_id uuid, event_id uuid, severity text, occurrences int,
                                                  first_seen_at timestamptz, last_seen_at timestamptz)
         RETURNING id, created_at`,
        [JSON.stringify(opened.map((a) => ({ id: a.id, rule_id: a.ruleId, customer_id: a.customerId, event_id: a.eventId, severity: a.severity, occurrences: a.occurrences, first_seen_at: a.firstSeenAt, last_seen_at: a.lastSeenAt })))],
      )) as Array<{ id: string; created_at: Date }>;
      for (const row of rows) for (const copy of this.handedOut.get(row.id) ?? []) copy.createdAt = row.created_at;
    }
    if (repeated.length) {
      await manager.query(
        `UPDATE alert SET occurrences = alert.occurrences + x.repeats, last_seen_at = greatest(alert.last_seen_at, x.last_seen_at),
                first_seen_at = least(alert.first_seen_at, x.first_seen_at), updated_at = now()
           FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::timestamptz[]) AS x(id, repeats, last_seen_at, first_seen_at) WHERE alert.id = x.id`,
        [repeated.map((a) => a.id), repeated.map((a) => a.repeats), repeated.map((a) => a.lastSeenAt.toISOString()), repeated.map((a) => a.firstSeenAt.toISOString())],
      );
    }
  }

  /**
   * The alert `copy` was handed out for, as the whole batch leaves it: a live push sent once the call commits
   * shows the alert's final occurrences and span, not the count of the hit that opened it.
   */
  settled(copy: AlertModel): AlertModel {
    const a = this.byId.get(copy.id);
    if (!a) return copy;
    return { ...copy, occurrences: a.occurrences, firstSeenAt: a.firstSeenAt, lastSeenAt: a.lastSeenAt };
  }

  private listOf(ruleId: string, customerId: string): OpenAlert[] {
    const key = pairOf(ruleId, customerId);
    let list = this.open.get(key);
    if (!list) this.open.set(key, (list = []));
    return list;
  }

  private handOut(a: OpenAlert): AlertModel {
    const { isNew: _isNew, repeats: _repeats, ...model } = a;
    const copy: AlertModel = { ...model };
    const copies = this.handedOut.get(a.id);
    if (copies) copies.push(copy);
    else this.handedOut.set(a.id, [copy]);
    return copy;
  }
}
