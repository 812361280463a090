import { Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { TransactionService } from '../../../database/transaction.service';
import { WebhookQueue } from './webhook-queue.service';
import { webhookMayReceiveSql } from './webhook-recipients';
import { WEBHOOK_EVENT_SCOPES, type WebhookEventType } from './webhooks.settings';

/** What a webhook payload may say about an event: ids, amounts and times — never PII, never rule logic. */
export interface WebhookEventFacts {
  id: string;
  type: string | null;
  amount: string | null;
  currency: string | null;
  occurredAt: Date | null;
}

export interface WebhookCustomerRef {
  id: string;
  externalRef: string;
  /** The partner whose customer this is (null: onboarded by staff). */
  onboardedByPartnerId: string | null;
}

export interface WebhookAlertFacts {
  id: string;
  severity: string;
  createdAt: Date;
}

/** One outbox message of a batch: its type and payload, for the webhooks of `partnerId`. */
export interface WebhookPublication {
  partnerId: string | null | undefined;
  type: WebhookEventType;
  data: Record<string, unknown>;
}

/**
 * A message names the customer only to the partner that onboarded it (SPEC §8: webhooks carry only that
 * partner's customers). An INTERNAL partner may send events for any customer but reads like any partner,
 * so for a customer it did not onboard it hears of its own event (by `eventId`, which its ingest result
 * gave it) and nothing that names the customer.
 */
const eventData = (event: WebhookEventFacts, customer: WebhookCustomerRef, recipientPartnerId: string | null | undefined) => {
  const theirs = customer.onboardedByPartnerId !== null && customer.onboardedByPartnerId === recipientPartnerId;
  return {
    eventId: event.id,
    eventType: event.type,
    customerId: theirs ? customer.id : null,
    customerExternalRef: theirs ? customer.externalRef : null,
    amount: event.amount,
    currency: event.currency,
    occurredAt: event.occurredAt?.toISOString() ?? null,
  };
};

/**
 * The write side of webhooks: in the caller's transaction, one outbox row (and one attempt job) per live
 * webhook of the partner that sent the event and subscribed to the type — provided that partner is in good
 * standing (not suspended, agreement in force: the test its tokens pass) and its allowed scopes include the
 * one the type needs (`WEBHOOK_EVENT_SCOPES`); see `webhook-recipients.ts`. The payloads carry the sending
 * partner's own customer by id and external reference only, and no customer at all for one it did not
 * onboard; rule codes stay out, as in ingest results (SPEC §8: rules are not to be reverse-engineered from
 * outside).
 */
@Injectable()
export class WebhookOutbox {
  constructor(
    private readonly queue: WebhookQueue,
    private readonly tx: TransactionService,
  ) {}

  /** `hold.placed` for the webhooks of `partnerId`, the partner that sent the held event. */
  holdPlaced(partnerId: string | null | undefined, event: WebhookEventFacts, customer: WebhookCustomerRef): WebhookPublication {
    return { partnerId, type: 'hold.placed', data: { ...eventData(event, customer, partnerId), holdStatus: 'PENDING' } };
  }

  holdResolved(manager: EntityManager, partnerId: string | null | undefined, event: WebhookEventFacts, customer: WebhookCustomerRef, outcome: 'RELEASED' | 'REJECTED'): Promise<number> {
    return this.publish(manager, partnerId, 'hold.resolved', { ...eventData(event, customer, partnerId), holdStatus: outcome, resolvedAt: new Date().toISOString() });
  }

  /** `alert.raised` for the webhooks of `partnerId`, the partner that sent the event which opened the alert. */
  alertRaised(partnerId: string | null | undefined, alert: WebhookAlertFacts, event: WebhookEventFacts, customer: WebhookCustomerRef): WebhookPublication {
    return { partnerId, type: 'alert.raised', data: { alertId: alert.id, severity: alert.severity, raisedAt: alert.createdAt.toISOString(), ...eventData(event, customer, partnerId) } };
  }

  /**
   * Many messages (a batch of events) in one statement, in order, and their first attempt jobs in one more.
   * Returns the rows written.
   */
  async publishAll(manager: EntityManager, list: readonly WebhookPublication[]): Promise<number> {
    const reachable = list.filter((p) => p.partnerId && isUUID(p.partnerId));
    if (!reachable.length) return 0;
    const rows = (await manager.query(
      `INSERT INTO webhook_outbox (webhook_id, event_type, payload)
       SELECT w.id, x.type, x.payload
         FROM jsonb_to_recordset($1::jsonb) AS x(n int, partner_id uuid, type text, scope text, payload jsonb)
         JOIN webhook w ON w.partner_id = x.partner_id AND x.type = ANY (w.event_types)
         JOIN partner p ON p.id = w.partner_id
        WHERE ${webhookMayReceiveSql('w', 'p', 'x.scope')}
        ORDER BY x.n, w.id
       RETURNING id`,
      [JSON.stringify(reachable.map((p, n) => ({ n, partner_id: p.partnerId, type: p.type, scope: WEBHOOK_EVENT_SCOPES[p.type], payload: p.data })))],
    )) as Array<{ id: string }>;
    await this.queue.enqueueMany(manager, rows.map((row) => ({ outboxId: row.id, attempt: 1 })));
    if (rows.length) this.tx.afterCommit(() => this.queue.wake());
    return rows.length;
  }

  /**
   * Any event type, for modules that report other things (`complaint.updated`, `customer.status_changed`).
   * `partnerId` that is not a partner id (a SYSTEM source) reaches no one, and neither does a partner cut
   * off or without the type's scope. Returns the rows written.
   */
  async publish(manager: EntityManager, partnerId: string | null | undefined, type: WebhookEventType, data: Record<string, unknown>): Promise<number> {
    if (!partnerId || !isUUID(partnerId)) return 0;
    const rows = (await manager.query(
      `INSERT INTO webhook_outbox (webhook_id, event_type, payload)
       SELECT w.id, $2, $3::jsonb FROM webhook w JOIN partner p ON p.id = w.partner_id
        WHERE w.partner_id = $1 AND $2 = ANY (w.event_types) AND ${webhookMayReceiveSql('w', 'p', '$4::text')}
       RETURNING id`,
      [partnerId, type, JSON.stringify(data), WEBHOOK_EVENT_SCOPES[type]],
    )) as Array<{ id: string }>;
    await this.queue.enqueueMany(manager, rows.map((row) => ({ outboxId: row.id, attempt: 1 })));
    if (rows.length) this.tx.afterCommit(() => this.queue.wake());
    return rows.length;
  }
}
