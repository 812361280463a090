import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import { TransactionService } from '../../../database/transaction.service';
import { MetricsService } from '../../../health/metrics.service';
import type { EntityManager } from 'typeorm';
import type { CustomerSnapshot } from '../../customers/customers.service';
import { CustomersService } from '../../customers/customers.service';
import { AlertsService, toAlertModel } from '../alerts/alerts.service';
import type { AlertModel } from '../models/alert.model';
import type { EventInput } from '../models/event.model';
import type { EventResultModel } from '../models/event-result.model';
import { Decision, decisionOf, EventType, HoldStatus, maxDecision, RuleAction, RuleMode } from '../models/monitoring.enums';
import { NotificationsService } from '../notifications/notifications.service';
import { LiveUpdates } from '../live/live-updates.service';
import { RiskService } from '../risk/risk.service';
import { RuleEngine, type ActiveRule } from '../rules/rule-engine.service';
import { toRuleModel, type RuleRow } from '../rules/rule-row';
import { WebhookOutbox } from '../webhooks/webhook-outbox.service';
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

const EVENT_INSERT_COLUMNS =
  'id, customer_id, type, source, occurred_at, amount, currency, channel, country, device_id, ip_address, counterparty_ref, content, flags, attributes';
const INSERT_EVENT = `INSERT INTO event AS e (${EVENT_INSERT_COLUMNS})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING ${EVENT_COLUMNS}`;
/**
 * Claims (source, key) and inserts the event only if the claim succeeded. A concurrent transaction holding
 * the same key makes the claim wait until it ends, as the unique key does on its own. The SELECT names its
 * types: in INSERT … SELECT, parameters are not typed from the target columns.
 */
const INSERT_CLAIMED_EVENT = `WITH claim AS (
         INSERT INTO event_idempotency (source, idempotency_key, body_hash, event_id, occurred_at) VALUES ($4, $16, $17, $1, $5)
         ON CONFLICT (source, idempotency_key) DO NOTHING RETURNING event_id)
       INSERT INTO event AS e (${EVENT_INSERT_COLUMNS})
       SELECT $1::uuid, $2::uuid, $3::text, $4::text, $5::timestamptz, $6::numeric, $7::text, $8::text, $9::text, $10::text, $11::text, $12::text,
              $13::text, $14::text[], $15::jsonb FROM claim RETURNING ${EVENT_COLUMNS}`;

/** LOCK_LOGIN locks the customer's login for this long (SPEC default 30 minutes). */
export const LOGIN_LOCK_MS = 30 * 60_000;
const HOLDABLE = new Set<string>([EventType.TRANSACTION, EventType.PAYMENT]);

/**
 * One event from persistence to decision: store it (content flagged, then encrypted), evaluate the active
 * rules with their aggregates, take the highest ENFORCE decision together with the customer's own state,
 * then act — alerts (deduplicated), hold, notifications, login lock, rule hits — all in the caller's
 * transaction, so the event and everything it caused commit together.
 */
@Injectable()
export class DecisionPipeline {
  /** The configured word lists, compiled once (CONTENT_FLAG_WORDS_FILE or the built-in lists). */
  private readonly flagger: ContentFlagger;

  constructor(
    private readonly engine: RuleEngine,
    private readonly alerts: AlertsService,
    private readonly notifications: NotificationsService,
    private readonly customers: CustomersService,
    private readonly live: LiveUpdates,
    private readonly webhooks: WebhookOutbox,
    private readonly risk: RiskService,
    private readonly tx: TransactionService,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.flagger = new ContentFlagger(config.contentFlagWords);
  }

  /** Screens an event that needs no idempotency key (a SYSTEM event). */
  async screen(manager: EntityManager, e: IncomingEvent): Promise<EventResultModel> {
    return (await this.screenClaiming(manager, e))!;
  }

  /**
   * Screens a partner's event if its idempotency key is still free: the claim on `event_idempotency` and the
   * event's insert are one statement. Null when the key was taken (then nothing was written): the caller
   * answers with the earlier result.
   */
  async screenClaimed(manager: EntityManager, e: IncomingEvent, claim: IdempotencyClaim): Promise<EventResultModel | null> {
    return this.screenClaiming(manager, e, claim);
  }

  private async screenClaiming(manager: EntityManager, e: IncomingEvent, claim?: IdempotencyClaim): Promise<EventResultModel | null> {
    const flags = e.type === EventType.COMMUNICATION ? this.flagger.flag(e.content) : [];
    const content = e.content ? this.customers.sealForCustomer(e.customer, { table: 'event', column: 'content', rowId: e.id }, e.content) : null;
    const params = [e.id, e.customer.id, e.type, e.source, e.occurredAt.toISOString(), e.amount ?? null, e.currency ?? null, e.channel ?? null, e.country ?? null,
      e.deviceId ?? null, e.ipAddress ?? null, e.counterpartyRef ?? null, content, flags, JSON.stringify(e.attributes ?? {})];
    // RETURNING gives the stored row (received_at, amount as numeric(20,2) kept it): no read-back later.
    const [inserted] = (await (claim
      ? manager.query(INSERT_CLAIMED_EVENT, [...params, claim.key, claim.bodyHash])
      : manager.query(INSERT_EVENT, params))) as EventRow[];
    if (!inserted) return null;

    const triggered = await this.engine.evaluate(manager, { ...e, flags, customerId: e.customer.id }, e.customer);
    let decision = this.customerStateDecision(e);
    if (e.type === EventType.LOGIN && (await this.loginLocked(manager, e.customer.id, e.occurredAt))) decision = maxDecision(decision, Decision.BLOCK);
    const raised: AlertModel[] = [];
    const enforced = triggered.filter((r) => r.mode === RuleMode.ENFORCE);
    for (const rule of triggered) {
      await manager.query(`INSERT INTO rule_hit (rule_id, event_id, customer_id, mode, occurred_at) VALUES ($1, $2, $3, $4, $5)`, [rule.id, e.id, e.customer.id, rule.mode, e.occurredAt.toISOString()]);
    }
    for (const rule of enforced) {
      decision = maxDecision(decision, decisionOf(rule.actions));
      if (rule.actions.includes(RuleAction.RAISE_ALERT)) {
        const { alert, created } = await this.alerts.raise(manager, { ruleId: rule.id, customerId: e.customer.id, eventId: e.id, severity: rule.severity, occurredAt: e.occurredAt, dedupWindowMs: rule.dedupWindowMs });
        alert.accountManagerId = e.customer.accountManagerId;
        raised.push(alert);
        if (created) this.live.alertRaised(alert);
        if (created && rule.actions.includes(RuleAction.NOTIFY_ACCOUNT_MANAGER) && e.customer.accountManagerId) {
          await this.notifications.notify(manager, { userId: e.customer.accountManagerId, kind: 'ALERT_RAISED', title: `Alert ${rule.code} (${rule.severity}) for customer ${e.customer.externalRef}`, customerId: e.customer.id, alertId: alert.id, eventId: e.id });
        }
      } else if (rule.actions.includes(RuleAction.NOTIFY_ACCOUNT_MANAGER) && e.customer.accountManagerId) {
        // No alert to deduplicate on: the account manager hears of every event that triggers the rule.
        await this.notifications.notify(manager, { userId: e.customer.accountManagerId, kind: 'RULE_TRIGGERED', title: `Rule ${rule.code} (${rule.severity}) triggered for customer ${e.customer.externalRef}`, customerId: e.customer.id, eventId: e.id });
      }
      if (rule.actions.includes(RuleAction.LOCK_LOGIN)) {
        await manager.query(
          `INSERT INTO login_lock (customer_id, locked_until, rule_id) VALUES ($1, $2, $3)
           ON CONFLICT (customer_id) DO UPDATE SET locked_until = greatest(login_lock.locked_until, EXCLUDED.locked_until), rule_id = EXCLUDED.rule_id,
             -- A late-arriving burst whose lock already ended must not undo an analyst's lift.
             lifted_at = CASE WHEN EXCLUDED.locked_until > greatest(login_lock.locked_until, now()) THEN NULL ELSE login_lock.lifted_at END,
             lifted_by = CASE WHEN EXCLUDED.locked_until > greatest(login_lock.locked_until, now()) THEN NULL ELSE login_lock.lifted_by END`,
          [e.customer.id, new Date(e.occurredAt.getTime() + LOGIN_LOCK_MS).toISOString(), rule.id],
        );
      }
    }
    const held = decision === Decision.HOLD && HOLDABLE.has(e.type);
    const row: EventRow = { ...inserted, decision, hold_status: held ? HoldStatus.PENDING : null, triggered_rule_ids: triggered.map((r) => r.id) };
    // The insert stored ALLOW, no hold and no rules: most events need no second write.
    if (row.decision !== inserted.decision || row.hold_status !== inserted.hold_status || row.triggered_rule_ids.length) {
      await manager.query(`UPDATE event SET decision = $3, hold_status = $4, triggered_rule_ids = $5 WHERE id = $1 AND occurred_at = $2`, [e.id, e.occurredAt.toISOString(), row.decision, row.hold_status, row.triggered_rule_ids]);
    }
    if (held) {
      await manager.query(`INSERT INTO hold_action (event_id, customer_id, outcome) VALUES ($1, $2, 'PLACED')`, [e.id, e.customer.id]);
      // The account manager hears about every hold, whichever rule (or state) caused it.
      if (e.customer.accountManagerId) {
        await this.notifications.notify(manager, { userId: e.customer.accountManagerId, kind: 'HOLD_PLACED', title: `Transaction of ${e.amount ?? '?'} ${e.currency ?? ''} held for customer ${e.customer.externalRef}`.trim(), customerId: e.customer.id, eventId: e.id });
      }
    }
    // webhooks: the sending partner's webhooks hear of new alerts and of the hold, through the outbox in this
    // transaction (delivered by the job queue after commit). A new alert is the one this event opened.
    const stored = toEventModel(row);
    for (const alert of raised) if (alert.eventId === e.id && alert.occurrences === 1) await this.webhooks.alertRaised(manager, e.source, alert, stored, e.customer);
    if (held) await this.webhooks.holdPlaced(manager, e.source, stored, e.customer);
    // risk: alerts raised or repeated change the risk score; a late PAYMENT may raise CREDIT_DETERIORATION.
    await this.risk.afterScreen(manager, e, raised);
    // Counted once committed: a rolled-back call screened nothing.
    const opened = raised.filter((a) => a.eventId === e.id && a.occurrences === 1);
    this.tx.afterCommit(() => {
      this.metrics.eventsScreened.inc({ type: e.type, source: e.source === 'SYSTEM' ? 'SYSTEM' : 'PARTNER' });
      this.metrics.decisions.inc({ decision });
      for (const alert of opened) this.metrics.alertsRaised.inc({ kind: alert.kind, severity: alert.severity });
    });
    return { event: { ...toEventModel(row), accountManagerId: e.customer.accountManagerId }, decision, triggeredRules: triggered.map((r) => r.model), alerts: raised, duplicate: false };
  }

  /** The original result of an already ingested event, for an idempotent repeat. */
  async priorResult(manager: EntityManager, eventId: string, occurredAt: Date): Promise<EventResultModel> {
    const [row] = (await manager.query(`SELECT ${EVENT_COLUMNS} FROM event e WHERE e.id = $1 AND e.occurred_at = $2`, [eventId, new Date(occurredAt).toISOString()])) as EventRow[];
    const rules = row.triggered_rule_ids.length ? ((await manager.query(`SELECT * FROM rule WHERE id = ANY($1)`, [row.triggered_rule_ids])) as RuleRow[]) : [];
    const alerts = (await manager.query(`SELECT * FROM alert WHERE event_id = $1`, [eventId])) as Parameters<typeof toAlertModel>[0][];
    return { event: toEventModel(row), decision: row.decision, triggeredRules: rules.map(toRuleModel), alerts: alerts.map(toAlertModel), duplicate: true };
  }

  /**
   * The customer's own state decides too: SUSPENDED blocks everything; RESTRICTED holds a transaction or
   * payment above the restricted limit (every amount when none is set; an event without amount is not held).
   */
  private customerStateDecision(e: IncomingEvent): Decision {
    if (e.customer.status === 'SUSPENDED') return Decision.BLOCK;
    if (e.customer.status === 'RESTRICTED' && HOLDABLE.has(e.type) && e.amount != null) {
      if (Number(e.amount) > (e.customer.restrictedLimit ?? 0)) return Decision.HOLD;
    }
    return Decision.ALLOW;
  }

  private async loginLocked(manager: EntityManager, customerId: string, at: Date): Promise<boolean> {
    // Only logins inside the lock's span are blocked: a back-filled login from before the burst is not.
    const [row] = (await manager.query(
      `SELECT 1 FROM login_lock WHERE customer_id = $1 AND lifted_at IS NULL AND locked_until > $2
          AND locked_until - $3 * interval '1 millisecond' <= $2`,
      [customerId, at.toISOString(), LOGIN_LOCK_MS],
    )) as unknown[];
    return !!row;
  }
}

export type { ActiveRule };
