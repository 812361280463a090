import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import { TransactionService } from '../../../database/transaction.service';
import { MetricsService } from '../../../health/metrics.service';
import type { EntityManager } from 'typeorm';
import { CustomersService, SNAPSHOT_COLUMNS, snapshotChanged, toSnapshot, type CustomerSnapshot, type SnapshotRow } from '../../customers/customers.service';
import { toAlertModel } from '../alerts/alerts.service';
import type { AlertModel } from '../models/alert.model';
import type { NewNotification } from '../notifications/notifications.service';
import type { EventInput } from '../models/event.model';
import type { EventResultModel } from '../models/event-result.model';
import { Decision, decisionOf, EventType, HoldStatus, maxDecision, RuleAction, RuleMode } from '../models/monitoring.enums';
import { NotificationsService } from '../notifications/notifications.service';
import { LiveUpdates } from '../live/live-updates.service';
import { EarlyWarningsService } from '../risk/early-warnings.service';
import { RiskService } from '../risk/risk.service';
import { RuleEngine, type ActiveRule } from '../rules/rule-engine.service';
import { toRuleModel, type RuleRow } from '../rules/rule-row';
import { WebhookOutbox, type WebhookPublication } from '../webhooks/webhook-outbox.service';
import { AlertBook, type AlertHit } from './alert-book';
import { CustomerSnapshotCache } from './customer-snapshot-cache';
import { compareNumbers } from '../rules/condition/semantics';
import { ContentFlagger } from './event-flags';
import { EVENT_COLUMNS, toEventModel, type EventRow } from './event-row';

export interface IncomingEvent extends Omit<EventInput, 'occurredAt' | 'idempotencyKey'> {
  id: string;
  occurredAt: Date;
  source: string;
  customer: CustomerSnapshot;
}

/** The key a partner sent with an event, and the digest of the event's canonical body. */
export interface IdempotencyClaim {
  key: string;
  bodyHash: string;
}

/** One event of a batch to screen, with its claim when it has an idempotency key. */
export interface ScreeningItem {
  event: IncomingEvent;
  claim?: IdempotencyClaim;
}

/**
 * Stores a batch of events, each claiming its (source, key) first when it has one: an event whose key is
 * taken is not stored (the caller answers with the earlier result). Claims go in key order, so two batches
 * sharing keys wait for each other in one order, never crosswise; a concurrent transaction holding a key
 * makes the claim wait until it ends, as the unique key does on its own. RETURNING gives the stored rows
 * (received_at, amount as numeric(20,2) kept it): no read-back later.
 */
const INSERT_EVENTS = `WITH input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, customer_id uuid, type text, source text, occurred_at timestamptz, amount numeric,
           currency text, channel text, country text, device_id text, ip_address text, counterparty_ref text, content text, flags text[], attributes jsonb,
           idempotency_key text, body_hash text)),
       claim AS (
         INSERT INTO event_idempotency (source, idempotency_key, body_hash, event_id, occurred_at)
         SELECT source, idempotency_key, body_hash, id, occurred_at FROM input WHERE idempotency_key IS NOT NULL ORDER BY idempotency_key
         ON CONFLICT (source, idempotency_key) DO NOTHING RETURNING event_id)
       INSERT INTO event AS e (id, customer_id, type, source, occurred_at, amount, currency, channel, country, device_id, ip_address, counterparty_ref, content, flags, attributes)
       SELECT id, customer_id, type, source, occurred_at, amount, currency, channel, country, device_id, ip_address, counterparty_ref, content, flags, attributes
         FROM input WHERE idempotency_key IS NULL OR id IN (SELECT event_id FROM claim)
       RETURNING ${EVENT_COLUMNS}`;

/**
 * Screening of a customer is serialised across calls: each call locks its customers' rows (in id order, so
 * calls sharing customers never deadlock) before its events are stored and its windows read, and holds them
 * until it commits. A window therefore sees every event of a call that screened the customer before; without
 * it, two transfers sent at once would each miss the other, and a velocity or burst rule could be beaten by
 * sending in parallel.
 */
const LOCK_CUSTOMERS = `SELECT ${SNAPSHOT_COLUMNS} FROM customer WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`;

/**
 * The customer snapshots a batch was prepared with are older than the rows it then locked: a change (a
 * limit, the status, the account manager, the risk score) committed between the read and the lock, while
 * the call waited behind another. Nothing of the batch may stand — its rules ran on the old values — so the
 * caller rolls back and screens again from fresh snapshots (the lock, taken again, then keeps them fresh).
 */
export class StaleCustomerSnapshot extends Error {
  constructor() {
    super('a customer changed between its snapshot and its lock');
  }
}

const HOLDABLE = new Set<string>([EventType.TRANSACTION, EventType.PAYMENT]);

/** A customer's login lock as the batch has it so far: stored, then extended by the batch's LOCK_LOGIN hits. */
type LoginLock = { lockedSince: Date; lockedUntil: Date; lifted: boolean };

/**
 * A batch of events from persistence to decision, set-based: one statement stores them all (claiming their
 * idempotency keys), one evaluates every active rule's aggregates for every event (each event's windows
 * see the stored history and the earlier events of the call, never the later ones), then decisions are
 * taken in memory event by event in call order — the highest ENFORCE decision together with the customer's
 * own state, alerts deduplicated, login locks — so an earlier event's alert or lock is seen by a later one
 * exactly as if they came one per call. What the decisions cause — rule hits, alerts, decisions on the
 * events, login locks, holds, notifications, webhook outbox rows — is written afterwards, one statement
 * per kind, all in the caller's transaction, so the events and everything they caused commit together.
 * A batch of 10 and a batch of 1000 cost the same number of statements.
 */
@Injectable()
export class DecisionPipeline {
  /** The configured word lists, compiled once (CONTENT_FLAG_WORDS_FILE or the built-in lists). */
  private readonly flagger: ContentFlagger;
  /** How long a LOCK_LOGIN hit locks the login (LOGIN_LOCK_MINUTES, SPEC default 30 minutes). */
  private readonly loginLockMs: number;

  constructor(
    private readonly engine: RuleEngine,
    private readonly notifications: NotificationsService,
    private readonly customers: CustomersService,
    private readonly live: LiveUpdates,
    private readonly webhooks: WebhookOutbox,
    private readonly risk: RiskService,
    private readonly warnings: EarlyWarningsService,
    private readonly tx: TransactionService,
    private readonly metrics: MetricsService,
    private readonly snapshotCache: CustomerSnapshotCache,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.flagger = new ContentFlagger(config.contentFlagWords);
    this.loginLockMs = config.loginLockMs;
  }

  /** Screens an event that needs no idempotency key (a SYSTEM event). */
  async screen(manager: EntityManager, e: IncomingEvent): Promise<EventResultModel> {
    return (await this.screenBatch(manager, [{ event: e }]))[0]!;
  }

  /**
   * Screens a batch in array order. The result at an index is null when that event's idempotency key was
   * taken (then nothing was written for it): the caller answers with the earlier result. Keys must be
   * distinct within the batch.
   */
  async screenBatch(manager: EntityManager, items: readonly ScreeningItem[]): Promise<Array<EventResultModel | null>> {
    const flagsOf = items.map(({ event: e }) => (e.type === EventType.COMMUNICATION ? this.flagger.flag(e.content) : []));
    const input = items.map(({ event: e, claim }, i) => ({
      id: e.id, customer_id: e.customer.id, type: e.type, source: e.source, occurred_at: e.occurredAt.toISOString(), amount: e.amount ?? null,
      currency: e.currency ?? null, channel: e.channel ?? null, country: e.country ?? null, device_id: e.deviceId ?? null, ip_address: e.ipAddress ?? null,
      counterparty_ref: e.counterpartyRef ?? null, flags: flagsOf[i], attributes: e.attributes ?? {},
      content: e.content ? this.customers.sealForCustomer(e.customer, { table: 'event', column: 'content', rowId: e.id }, e.content) : null,
      idempotency_key: claim?.key ?? null, body_hash: claim?.bodyHash ?? null,
    }));
    // The aggregates are built before the insert and sent with it and the customers' lock (LOCK_CUSTOMERS),
    // one round trip for the three: run after them in the transaction, they see the stored events, this
    // call's and those of every call that screened these customers before. An event whose key turns out
    // taken was not stored; its verdicts are dropped, and its id in another event's exclusions matches nothing.
    const laterOf = laterOfSameCustomer(items.map(({ event }) => event));
    const evaluation = await this.engine.prepareBatch(
      manager,
      items.map(({ event: e }, k) => ({ event: { ...e, flags: flagsOf[k], customerId: e.customer.id }, customer: e.customer, laterIds: laterOf[k] })),
    );
    // The statement's ORDER BY sets the order the rows are locked in.
    const customerIds = [...new Set(items.map(({ event }) => event.customer.id))];
    const [lockedRows, insertedRows, aggregateRows] = await this.tx.pipeline(manager, [
      { text: LOCK_CUSTOMERS, values: [customerIds] },
      { text: INSERT_EVENTS, values: [JSON.stringify(input)] },
      ...(evaluation.statement ? [evaluation.statement] : []),
    ]);
    const locked = new Map((lockedRows as unknown as SnapshotRow[]).map((r) => [r.id, toSnapshot(r)]));
    const changed = items.filter(({ event }) => snapshotChanged(event.customer, locked.get(event.customer.id) ?? event.customer));
    if (changed.length) {
      this.snapshotCache.forget(changed.map(({ event }) => event.customer.id));
      throw new StaleCustomerSnapshot();
    }
    const stored = new Map((insertedRows as unknown as EventRow[]).map((r) => [r.id, r]));
    const screened = items.flatMap(({ event }, index) => {
      const row = stored.get(event.id);
      return row ? [{ e: event, index, row, flags: flagsOf[index] }] : [];
    });
    const results: Array<EventResultModel | null> = items.map(() => null);
    if (!screened.length) return results;

    const verdicts = evaluation.evaluate(aggregateRows ?? []);
    const triggeredOf = screened.map(({ index }) => verdicts[index]);
    const alerts = new AlertBook();
    await alerts.load(manager, screened.flatMap(({ e }, k) => triggeredOf[k].filter((r) => r.mode === RuleMode.ENFORCE && r.actions.includes(RuleAction.RAISE_ALERT)).map((r) => alertHit(r, e))));
    const locks = await this.loginLocks(manager, screened.filter(({ e }) => e.type === EventType.LOGIN).map(({ e }) => e.customer.id));
    const now = screened[0].row.received_at;

    const hits: Array<[string, string, string, string, string]> = [];
    const lockWrites = new Map<string, { lockedSince: Date; lockedUntil: Date; ruleId: string }>();
    const decided: Array<{ id: string; occurredAt: string; decision: Decision; holdStatus: HoldStatus | null; ruleIds: string[] }> = [];
    const holds: Array<{ eventId: string; customerId: string }> = [];
    const notes: NewNotification[] = [];
    const after: Array<{ e: IncomingEvent; event: ReturnType<typeof toEventModel>; opened: AlertModel[]; held: boolean; raised: AlertModel[]; decision: Decision }> = [];
    for (const [k, { e, index, row: inserted }] of screened.entries()) {
      const triggered = triggeredOf[k];
      const accountManager = e.customer.accountManagerId;
      let decision = this.customerStateDecision(e);
      if (e.type === EventType.LOGIN && isLocked(locks.get(e.customer.id), e.occurredAt)) decision = maxDecision(decision, Decision.BLOCK);
      const raised: AlertModel[] = [];
      const opened: AlertModel[] = [];
      for (const rule of triggered) hits.push([rule.id, e.id, e.customer.id, rule.mode, e.occurredAt.toISOString()]);
      for (const rule of triggered.filter((r) => r.mode === RuleMode.ENFORCE)) {
        decision = maxDecision(decision, decisionOf(rule.actions));
        if (rule.actions.includes(RuleAction.RAISE_ALERT)) {
          const { alert, created } = alerts.raise(alertHit(rule, e));
          alert.accountManagerId = accountManager;
          raised.push(alert);
          if (created) opened.push(alert);
          if (created && rule.actions.includes(RuleAction.NOTIFY_ACCOUNT_MANAGER) && accountManager) {
            notes.push({ userId: accountManager, kind: 'ALERT_RAISED', title: `Alert ${rule.code} (${rule.severity}) for customer ${e.customer.externalRef}`, customerId: e.customer.id, alertId: alert.id, eventId: e.id });
          }
        } else if (rule.actions.includes(RuleAction.NOTIFY_ACCOUNT_MANAGER) && accountManager) {
          // No alert to deduplicate on: the account manager hears of every event that triggers the rule.
          notes.push({ userId: accountManager, kind: 'RULE_TRIGGERED', title: `Rule ${rule.code} (${rule.severity}) triggered for customer ${e.customer.externalRef}`, customerId: e.customer.id, eventId: e.id });
        }
        if (rule.actions.includes(RuleAction.LOCK_LOGIN)) {
          const span = { since: e.occurredAt, until: new Date(e.occurredAt.getTime() + this.loginLockMs) };
          extendLock(locks, e.customer.id, span, now);
          const write = lockWrites.get(e.customer.id);
          const merged = write ? mergeSpans({ since: write.lockedSince, until: write.lockedUntil }, span) : span;
          lockWrites.set(e.customer.id, { lockedSince: merged.since, lockedUntil: merged.until, ruleId: rule.id });
        }
      }
      const held = decision === Decision.HOLD && HOLDABLE.has(e.type);
      const row: EventRow = { ...inserted, decision, hold_status: held ? HoldStatus.PENDING : null, triggered_rule_ids: triggered.map((r) => r.id) };
      // The insert stored ALLOW, no hold and no rules: most events need no second write.
      if (row.decision !== inserted.decision || row.hold_status !== inserted.hold_status || row.triggered_rule_ids.length) {
        decided.push({ id: e.id, occurredAt: e.occurredAt.toISOString(), decision, holdStatus: row.hold_status, ruleIds: row.triggered_rule_ids });
      }
      if (held) {
        holds.push({ eventId: e.id, customerId: e.customer.id });
        // The account manager hears about every hold, whichever rule (or state) caused it.
        if (accountManager) notes.push({ userId: accountManager, kind: 'HOLD_PLACED', title: `Transaction of ${e.amount ?? '?'} ${e.currency ?? ''} held for customer ${e.customer.externalRef}`.trim(), customerId: e.customer.id, eventId: e.id });
      }
      const event = toEventModel(row);
      after.push({ e, event, opened, held, raised, decision });
      results[index] = { event: { ...event, accountManagerId: accountManager }, decision, triggeredRules: triggered.map((r) => r.model), alerts: raised, duplicate: false };
    }

    await alerts.write(manager);
    if (hits.length) {
      await manager.query(
        `INSERT INTO rule_hit (rule_id, event_id, customer_id, mode, occurred_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[])`,
        [0, 1, 2, 3, 4].map((c) => hits.map((h) => h[c])),
      );
    }
    if (decided.length) {
      await manager.query(
        `UPDATE event SET decision = x.decision, hold_status = x.hold_status, triggered_rule_ids = ARRAY(SELECT jsonb_array_elements_text(x.rule_ids))::uuid[]
           FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, occurred_at timestamptz, decision text, hold_status text, rule_ids jsonb)
          WHERE event.id = x.id AND event.occurred_at = x.occurred_at`,
        [JSON.stringify(decided.map((d) => ({ id: d.id, occurred_at: d.occurredAt, decision: d.decision, hold_status: d.holdStatus, rule_ids: d.ruleIds })))],
      );
    }
    if (lockWrites.size) {
      // One row per customer: the span its hits leave (mergeSpans, as the hits one by one would) and the rule
      // of its last hit. The stored span merges the same way: an overlapping span widens it at either end, a
      // later disjoint one replaces it, an earlier disjoint one leaves it. In customer order, so two batches
      // locking the same customers never wait on each other crosswise.
      const locked = [...lockWrites].sort(([a], [b]) => (a < b ? -1 : 1));
      await manager.query(
        `INSERT INTO login_lock (customer_id, locked_since, locked_until, rule_id) SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::uuid[])
         ON CONFLICT (customer_id) DO UPDATE SET
           locked_since = CASE WHEN EXCLUDED.locked_since > login_lock.locked_until THEN EXCLUDED.locked_since
                               WHEN EXCLUDED.locked_until < login_lock.locked_since THEN login_lock.locked_since
                               ELSE least(login_lock.locked_since, EXCLUDED.locked_since) END,
           locked_until = greatest(login_lock.locked_until, EXCLUDED.locked_until), rule_id = EXCLUDED.rule_id,
           -- A late-arriving burst whose lock already ended must not undo an analyst's lift.
           lifted_at = CASE WHEN EXCLUDED.locked_until > greatest(login_lock.locked_until, now()) THEN NULL ELSE login_lock.lifted_at END,
           lifted_by = CASE WHEN EXCLUDED.locked_until > greatest(login_lock.locked_until, now()) THEN NULL ELSE login_lock.lifted_by END`,
        [locked.map(([customerId]) => customerId), locked.map(([, w]) => w.lockedSince.toISOString()), locked.map(([, w]) => w.lockedUntil.toISOString()), locked.map(([, w]) => w.ruleId)],
      );
    }
    if (holds.length) {
      await manager.query(`INSERT INTO hold_action (event_id, customer_id, outcome) SELECT e, c, 'PLACED' FROM unnest($1::uuid[], $2::uuid[]) AS x(e, c)`, [holds.map((h) => h.eventId), holds.map((h) => h.customerId)]);
    }
    await this.notifications.notifyAll(manager, notes);
    // webhooks: the sending partner's webhooks hear of new alerts and of the hold, through the outbox in this
    // transaction (delivered by the job queue after commit). A new alert is the one this event opened.
    const publications: WebhookPublication[] = [];
    for (const { e, event, opened, held } of after) {
      for (const alert of opened) publications.push(this.webhooks.alertRaised(e.source, alert, event, e.customer));
      if (held) publications.push(this.webhooks.holdPlaced(e.source, event, e.customer));
    }
    await this.webhooks.publishAll(manager, publications);
    for (const { opened } of after) for (const alert of opened) this.live.alertRaised(alert);
    // risk: alerts raised or repeated change the score, recomputed once per customer from what the batch
    // left; a late PAYMENT may raise CREDIT_DETERIORATION.
    // Customers in id order: two concurrent calls lock the customer rows they recompute in the same order.
    const rescored = [...new Set(after.filter((a) => a.raised.length).map((a) => a.e.customer.id))].sort();
    for (const customerId of rescored) await this.risk.recompute(manager, customerId, 'alert.raised');
    // Each PAYMENT is judged as its own call would have judged it: without the events that follow it in
    // this one (stored already, but not there yet for the event before them).
    const callOrder = new Map<string, string[]>(); // customer → the call's event ids, in call order
    for (const { e } of after) {
      const ids = callOrder.get(e.customer.id);
      if (ids) ids.push(e.id);
      else callOrder.set(e.customer.id, [e.id]);
    }
    for (const { e } of after) {
      if (e.type !== EventType.PAYMENT) continue;
      const ids = callOrder.get(e.customer.id)!;
      const excludeIds = ids.slice(ids.indexOf(e.id) + 1);
      await this.warnings.evaluatePayment(manager, { customerId: e.customer.id, eventId: e.id, occurredAt: e.occurredAt, attributes: e.attributes, excludeIds });
    }
    // The rows locked above are the customers as committed, unless this call changed them since: scoring
    // (alerts, a payment's early warnings) may have. The others serve the next call without a look-up.
    const changedHere = new Set(after.filter((a) => a.raised.length || a.e.type === EventType.PAYMENT).map((a) => a.e.customer.id));
    // Counted once committed: a rolled-back call screened nothing.
    this.tx.afterCommit(() => {
      this.snapshotCache.forget(changedHere);
      this.snapshotCache.remember([...locked.values()].filter((c) => !changedHere.has(c.id)));
      for (const { e, opened, decision } of after) {
        this.metrics.eventsScreened.inc({ type: e.type, source: e.source === 'SYSTEM' ? 'SYSTEM' : 'PARTNER' });
        this.metrics.decisions.inc({ decision });
        for (const alert of opened) this.metrics.alertsRaised.inc({ kind: alert.kind, severity: alert.severity });
      }
    });
    return results;
  }

  /** The original results of already ingested events, for idempotent repeats: three statements for any number. */
  async priorResults(manager: EntityManager, refs: ReadonlyArray<{ eventId: string; occurredAt: Date }>): Promise<Map<string, EventResultModel>> {
    if (!refs.length) return new Map();
    const rows = (await manager.query(
      `SELECT ${EVENT_COLUMNS} FROM event e JOIN unnest($1::uuid[], $2::timestamptz[]) AS k(id, occurred_at) ON e.id = k.id AND e.occurred_at = k.occurred_at`,
      [refs.map((r) => r.eventId), refs.map((r) => new Date(r.occurredAt).toISOString())],
    )) as EventRow[];
    const ruleIds = [...new Set(rows.flatMap((r) => r.triggered_rule_ids))];
    const rules = new Map((ruleIds.length ? ((await manager.query(`SELECT * FROM rule WHERE id = ANY($1)`, [ruleIds])) as RuleRow[]) : []).map((r) => [r.id, toRuleModel(r)]));
    const alerts = (await manager.query(`SELECT * FROM alert WHERE event_id = ANY($1)`, [rows.map((r) => r.id)])) as Parameters<typeof toAlertModel>[0][];
    return new Map(
      rows.map((row) => [
        row.id,
        {
          event: toEventModel(row), decision: row.decision, triggeredRules: row.triggered_rule_ids.flatMap((id) => rules.get(id) ?? []),
          alerts: alerts.filter((a) => a.event_id === row.id).map(toAlertModel), duplicate: true,
        },
      ]),
    );
  }

  /**
   * The customer's own state decides too: SUSPENDED blocks everything; RESTRICTED holds a transaction or
   * payment above the restricted limit (every amount when none is set; an event without amount is not held).
   */
  private customerStateDecision(e: IncomingEvent): Decision {
    if (e.customer.status === 'SUSPENDED') return Decision.BLOCK;
    if (e.customer.status === 'RESTRICTED' && HOLDABLE.has(e.type) && e.amount != null) {
      if ((compareNumbers(e.amount, e.customer.restrictedLimit ?? 0) ?? 0) > 0) return Decision.HOLD;
    }
    return Decision.ALLOW;
  }

  /** The stored login locks of these customers, to be extended in memory as the batch's hits lock them. */
  private async loginLocks(manager: EntityManager, customerIds: string[]): Promise<Map<string, LoginLock>> {
    if (!customerIds.length) return new Map();
    const rows = (await manager.query(`SELECT customer_id, locked_since, locked_until, lifted_at IS NOT NULL AS lifted FROM login_lock WHERE customer_id = ANY($1::uuid[])`, [[...new Set(customerIds)]])) as Array<{
      customer_id: string; locked_since: Date; locked_until: Date; lifted: boolean;
    }>;
    return new Map(rows.map((r) => [r.customer_id, { lockedSince: r.locked_since, lockedUntil: r.locked_until, lifted: r.lifted }]));
  }
}

/**
 * For each event, the same customer's events screened after it that its windows could reach (not later in
 * time). Grouped by customer first, so a call of 1000 events for 1000 customers costs 1000 steps, not the
 * half-million of comparing every pair.
 */
export function laterOfSameCustomer(events: ReadonlyArray<Pick<IncomingEvent, 'id' | 'occurredAt' | 'customer'>>): string[][] {
  const byCustomer = new Map<string, number[]>();
  events.forEach((e, k) => {
    const positions = byCustomer.get(e.customer.id);
    if (positions) positions.push(k);
    else byCustomer.set(e.customer.id, [k]);
  });
  const later: string[][] = events.map(() => []);
  for (const positions of byCustomer.values()) {
    for (let a = 0; a < positions.length; a++) {
      const e = events[positions[a]];
      for (let b = a + 1; b < positions.length; b++) {
        const other = events[positions[b]];
        if (other.occurredAt <= e.occurredAt) later[positions[a]].push(other.id);
      }
    }
  }
  return later;
}

const alertHit = (rule: ActiveRule, e: IncomingEvent): AlertHit => ({
  ruleId: rule.id, customerId: e.customer.id, eventId: e.id, severity: rule.severity, occurredAt: e.occurredAt, dedupWindowMs: rule.dedupWindowMs,
});

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

export type { ActiveRule };
