import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import { TransactionService } from '../../../database/transaction.service';
import { CustomersService, SNAPSHOT_COLUMNS, snapshotChanged, toSnapshot, type CustomerSnapshot, type SnapshotRow } from '../../customers/customers.service';
import { toAlertModel } from '../alerts/alerts.service';
import type { AlertModel } from '../models/alert.model';
import type { EventInput } from '../models/event.model';
import type { EventResultModel } from '../models/event-result.model';
import { Decision, decisionOf, EventType, HoldStatus, maxDecision, RuleAction, RuleMode } from '../models/monitoring.enums';
import type { NewNotification } from '../notifications/notifications.service';
import { compareNumbers } from '../rules/condition/semantics';
import { RuleEngine, type ActiveRule } from '../rules/rule-engine.service';
import { toRuleModel, type RuleRow } from '../rules/rule-row';
import { AlertBook, type AlertHit } from './alert-book';
import { CustomerSnapshotCache } from './customer-snapshot-cache';
import { ContentFlagger } from './event-flags';
import { EVENT_COLUMNS, toEventModel, type EventRow } from './event-row';
import { extendLock, isLocked, mergeSpans, storedLoginLocks } from './login-lock-span';
import { ScreeningConsequences, type DecidedBatch, type DecisionUpdate, type EventOutcome } from './screening-consequences';

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

/**
 * A batch of events from persistence to decision, set-based: one statement stores them all (claiming their
 * idempotency keys), one evaluates every active rule's aggregates for every event (each event's windows
 * see the stored history and the earlier events of the call, never the later ones), then decisions are
 * taken in memory event by event in call order — the highest ENFORCE decision together with the customer's
 * own state, alerts deduplicated, login locks — so an earlier event's alert or lock is seen by a later one
 * exactly as if they came one per call. What the decisions cause is written afterwards, in the caller's
 * transaction, by ScreeningConsequences. A batch of 10 and a batch of 1000 cost the same number of statements.
 */
@Injectable()
export class DecisionPipeline {
  /** The configured word lists, compiled once (CONTENT_FLAG_WORDS_FILE or the built-in lists). */
  private readonly flagger: ContentFlagger;
  /** How long a LOCK_LOGIN hit locks the login (LOGIN_LOCK_MINUTES, SPEC default 30 minutes). */
  private readonly loginLockMs: number;

  constructor(
    private readonly engine: RuleEngine,
    private readonly customers: CustomersService,
    private readonly tx: TransactionService,
    private readonly snapshotCache: CustomerSnapshotCache,
    private readonly consequences: ScreeningConsequences,
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
    const changed = items.flatMap(({ event: { customer: seen } }) => {
      const now = locked.get(seen.id);
      return now && snapshotChanged(seen, now) ? [{ seen, now }] : [];
    });
    if (changed.length) {
      this.snapshotCache.forget(changed.map(({ seen }) => seen.id));
      for (const { seen, now } of changed) this.customers.forgetReplacedKey(seen, now);
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
    const locks = await storedLoginLocks(manager, screened.filter(({ e }) => e.type === EventType.LOGIN).map(({ e }) => e.customer.id));
    const now = screened[0].row.received_at;

    const ruleHits: DecidedBatch['ruleHits'] = [];
    const lockWrites: DecidedBatch['lockWrites'] = new Map();
    const decisionUpdates: DecisionUpdate[] = [];
    const holds: DecidedBatch['holds'] = [];
    const notes: NewNotification[] = [];
    const outcomes: EventOutcome[] = [];
    for (const [k, { e, index, row: inserted }] of screened.entries()) {
      const triggered = triggeredOf[k];
      const accountManager = e.customer.accountManagerId;
      let decision = this.customerStateDecision(e);
      if (e.type === EventType.LOGIN && isLocked(locks.get(e.customer.id), e.occurredAt)) decision = maxDecision(decision, Decision.BLOCK);
      const raised: AlertModel[] = [];
      const opened: AlertModel[] = [];
      for (const rule of triggered) ruleHits.push([rule.id, e.id, e.customer.id, rule.mode, e.occurredAt.toISOString()]);
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
        decisionUpdates.push({ id: e.id, occurredAt: e.occurredAt.toISOString(), decision, holdStatus: row.hold_status, ruleIds: row.triggered_rule_ids });
      }
      if (held) {
        holds.push({ eventId: e.id, customerId: e.customer.id });
        // The account manager hears about every hold, whichever rule (or state) caused it.
        if (accountManager) notes.push({ userId: accountManager, kind: 'HOLD_PLACED', title: `Transaction of ${e.amount ?? '?'} ${e.currency ?? ''} held for customer ${e.customer.externalRef}`.trim(), customerId: e.customer.id, eventId: e.id });
      }
      const event = toEventModel(row);
      outcomes.push({ e, event, opened, held, raised, decision });
      results[index] = { event: { ...event, accountManagerId: accountManager }, decision, triggeredRules: triggered.map((r) => r.model), alerts: raised, duplicate: false };
    }

    await this.consequences.write(manager, { alerts, ruleHits, decisionUpdates, lockWrites, holds, notes, outcomes, locked });
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

export type { ActiveRule };
