import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { TransactionService } from '../../../database/transaction.service';
import { MetricsService } from '../../../health/metrics.service';
import type { CustomerSnapshot } from '../../customers/customers.service';
import { LiveUpdates } from '../live/live-updates.service';
import type { AlertModel } from '../models/alert.model';
import type { EventModel } from '../models/event.model';
import { Decision, EventType, HoldStatus } from '../models/monitoring.enums';
import { NotificationsService, type NewNotification } from '../notifications/notifications.service';
import { EarlyWarningsService } from '../risk/early-warnings.service';
import { RiskService } from '../risk/risk.service';
import { WebhookOutbox, type WebhookPublication } from '../webhooks/webhook-outbox.service';
import type { AlertBook } from './alert-book';
import { CustomerSnapshotCache } from './customer-snapshot-cache';
import type { IncomingEvent } from './decision-pipeline.service';

/** One stored event as decided: what it opened and repeated, and whether it was held. */
export interface EventOutcome {
  e: IncomingEvent;
  event: EventModel;
  decision: Decision;
  held: boolean;
  /** The alerts it raised or repeated (deduplicated onto an open one). */
  raised: AlertModel[];
  /** The alerts it opened. */
  opened: AlertModel[];
}

/** An event whose stored decision, hold or triggered rules differ from what its insert stored. */
export interface DecisionUpdate {
  id: string;
  occurredAt: string;
  decision: Decision;
  holdStatus: HoldStatus | null;
  ruleIds: string[];
}

/** A customer's login lock as a batch's LOCK_LOGIN hits leave it, and the rule of the last hit. */
export interface LoginLockWrite {
  lockedSince: Date;
  lockedUntil: Date;
  ruleId: string;
}

/** Everything a batch's decisions cause, gathered while deciding in memory, written by `ScreeningConsequences`. */
export interface DecidedBatch {
  alerts: AlertBook;
  /** rule, event, customer, mode, occurredAt: one per triggered rule, SHADOW ones included. */
  ruleHits: Array<[string, string, string, string, string]>;
  decisionUpdates: DecisionUpdate[];
  lockWrites: Map<string, LoginLockWrite>;
  holds: Array<{ eventId: string; customerId: string }>;
  notes: NewNotification[];
  /** Per stored event, in call order. */
  outcomes: EventOutcome[];
  /** The customers as locked (and found unchanged) by the screening. */
  locked: Map<string, CustomerSnapshot>;
}

/**
 * Writes what a screened batch caused, in the caller's transaction (the events and everything they caused
 * commit together): alerts, rule hits, decisions on the events, login locks, holds, notifications and
 * webhook outbox rows, one statement per kind whatever the batch's size; then the risk of each customer
 * whose alerts were raised or repeated, and each payment's early warnings; once committed, the live
 * pushes, the snapshot cache and the counters.
 */
@Injectable()
export class ScreeningConsequences {
  constructor(
    private readonly notifications: NotificationsService,
    private readonly live: LiveUpdates,
    private readonly webhooks: WebhookOutbox,
    private readonly risk: RiskService,
    private readonly warnings: EarlyWarningsService,
    private readonly tx: TransactionService,
    private readonly metrics: MetricsService,
    private readonly snapshotCache: CustomerSnapshotCache,
  ) {}

  async write(manager: EntityManager, batch: DecidedBatch): Promise<void> {
    const { alerts, ruleHits, decisionUpdates, lockWrites, holds, notes, outcomes, locked } = batch;
    await alerts.write(manager);
    if (ruleHits.length) {
      await manager.query(
        `INSERT INTO rule_hit (rule_id, event_id, customer_id, mode, occurred_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[])`,
        [0, 1, 2, 3, 4].map((c) => ruleHits.map((h) => h[c])),
      );
    }
    if (decisionUpdates.length) {
      await manager.query(
        `UPDATE event SET decision = x.decision, hold_status = x.hold_status, triggered_rule_ids = ARRAY(SELECT jsonb_array_elements_text(x.rule_ids))::uuid[]
           FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, occurred_at timestamptz, decision text, hold_status text, rule_ids jsonb)
          WHERE event.id = x.id AND event.occurred_at = x.occurred_at`,
        [JSON.stringify(decisionUpdates.map((d) => ({ id: d.id, occurred_at: d.occurredAt, decision: d.decision, hold_status: d.holdStatus, rule_ids: d.ruleIds })))],
      );
    }
    if (lockWrites.size) {
      // One row per customer: the span its hits leave (mergeSpans, as the hits one by one would) and the rule
      // of its last hit. The stored span merges the same way: an overlapping span widens it at either end, a
      // later disjoint one replaces it, an earlier disjoint one leaves it. In customer order, so two batches
      // locking the same customers never wait on each other crosswise.
      const byCustomer = [...lockWrites].sort(([a], [b]) => (a < b ? -1 : 1));
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
        [byCustomer.map(([customerId]) => customerId), byCustomer.map(([, w]) => w.lockedSince.toISOString()), byCustomer.map(([, w]) => w.lockedUntil.toISOString()), byCustomer.map(([, w]) => w.ruleId)],
      );
    }
    if (holds.length) {
      await manager.query(`INSERT INTO hold_action (event_id, customer_id, outcome) SELECT e, c, 'PLACED' FROM unnest($1::uuid[], $2::uuid[]) AS x(e, c)`, [holds.map((h) => h.eventId), holds.map((h) => h.customerId)]);
    }
    await this.notifications.notifyAll(manager, notes);
    // webhooks: the sending partner's webhooks hear of new alerts and of the hold, through the outbox in this
    // transaction (delivered by the job queue after commit). A new alert is the one this event opened.
    const publications: WebhookPublication[] = [];
    for (const { e, event, opened, held } of outcomes) {
      for (const alert of opened) publications.push(this.webhooks.alertRaised(e.source, alert, event, e.customer));
      if (held) publications.push(this.webhooks.holdPlaced(e.source, event, e.customer));
    }
    await this.webhooks.publishAll(manager, publications);
    // Pushed as the call leaves each alert: a later event of the same call may have repeated it.
    for (const { opened } of outcomes) for (const alert of opened) this.live.alertRaised(alerts.settled(alert));
    // risk: alerts raised or repeated change the score, recomputed once per customer from what the batch
    // left; a late PAYMENT may raise CREDIT_DETERIORATION.
    // Customers in id order: two concurrent calls lock the customer rows they recompute in the same order.
    const rescored = [...new Set(outcomes.filter((o) => o.raised.length).map((o) => o.e.customer.id))].sort();
    for (const customerId of rescored) await this.risk.recompute(manager, customerId, 'alert.raised');
    // Each PAYMENT is judged as its own call would have judged it: without the events that follow it in
    // this one (stored already, but not there yet for the event before them).
    const callOrder = new Map<string, string[]>(); // customer → the call's event ids, in call order
    for (const { e } of outcomes) {
      const ids = callOrder.get(e.customer.id);
      if (ids) ids.push(e.id);
      else callOrder.set(e.customer.id, [e.id]);
    }
    for (const { e } of outcomes) {
      if (e.type !== EventType.PAYMENT) continue;
      const ids = callOrder.get(e.customer.id)!;
      const excludeIds = ids.slice(ids.indexOf(e.id) + 1);
      await this.warnings.evaluatePayment(manager, { customerId: e.customer.id, eventId: e.id, occurredAt: e.occurredAt, attributes: e.attributes, excludeIds });
    }
    // The rows locked above are the customers as committed, unless this call changed them since: scoring
    // (alerts, a payment's early warnings) may have. The others serve the next call without a look-up.
    const changedHere = new Set(outcomes.filter((o) => o.raised.length || o.e.type === EventType.PAYMENT).map((o) => o.e.customer.id));
    // Counted once committed: a rolled-back call screened nothing.
    this.tx.afterCommit(() => {
      this.snapshotCache.forget(changedHere);
      this.snapshotCache.remember([...locked.values()].filter((c) => !changedHere.has(c.id)));
      for (const { e, opened, decision } of outcomes) {
        this.metrics.eventsScreened.inc({ type: e.type, source: e.source === 'SYSTEM' ? 'SYSTEM' : 'PARTNER' });
        this.metrics.decisions.inc({ decision });
        for (const alert of opened) this.metrics.alertsRaised.inc({ kind: alert.kind, severity: alert.severity });
      }
    });
  }
}
