import { Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { TransactionService } from '../../../database/transaction.service';
import { WebhookQueue } from './webhook-queue.service';
import type { WebhookEventType } from './webhooks.settings';

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

const eventData = (event: WebhookEventFacts, customer: WebhookCustomerRef) => ({
  eventId: event.id,
  eventType: event.type,
  customerId: customer.id,
  customerExternalRef: customer.externalRef,
  amount: event.amount,
  currency: event.currency,
  occurredAt: event.occurredAt?.toISOString() ?? null,
});

/**
 * The write side of webhooks: in the caller's transaction, one outbox row (and one attempt job) per live
 * webhook of the partner that sent the event and subscribed to the type. The payloads carry the sending
 * partner's own customer by id and external reference only; rule codes stay out, as in ingest results
 * (SPEC §8: rules are not to be reverse-engineered from outside).
 */
@Injectable()
export class WebhookOutbox {
  constructor(
    private readonly queue: WebhookQueue,
    private readonly tx: TransactionService,
  ) {}

  holdPlaced(manager: EntityManager, partnerId: string | null | undefined, event: WebhookEventFacts, customer: WebhookCustomerRef): Promise<number> {
    const { type, data } = this.holdPlacedPayload(event, customer);
    return this.publish(manager, partnerId, type, data);
  }

  holdPlacedPayload(event: WebhookEventFacts, customer: WebhookCustomerRef): Omit<WebhookPublication, 'partnerId'> {
    return { type: 'hold.placed', data: { ...eventData(event, customer), holdStatus: 'PENDING' } };
  }

  holdResolved(manager: EntityManager, partnerId: string | null | undefined, event: WebhookEventFacts, customer: WebhookCustomerRef, outcome: 'RELEASED' | 'REJECTED'): Promise<number> {
    return this.publish(manager, partnerId, 'hold.resolved', { ...eventData(event, customer), holdStatus: outcome, resolvedAt: new Date().toISOString() });
  }

  alertRaised(manager: EntityManager, partnerId: string | null | undefined, alert: WebhookAlertFacts, event: WebhookEventFacts, customer: WebhookCustomerRef): Promise<number> {
    const { type, data } = this.alertRaisedPayload(alert, event, customer);
    return this.publish(manager, partnerId, type, data);
  }

  alertRaisedPayload(alert: WebhookAlertFacts, event: WebhookEventFacts, customer: WebhookCustomerRef): Omit<WebhookPublication, 'partnerId'> {
    return { type: 'alert.raised', data: { alertId: alert.id, severity: alert.severity, raisedAt: alert.createdAt.toISOString(), ...eventData(event, customer) } };
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
         FROM jsonb_to_recordset($1::jsonb) AS x(n int, partner_id uuid, type text, payload jsonb)
         JOIN webhook w ON w.partner_id = x.partner_id AND w.active AND w.deleted_at IS NULL AND x.type = ANY (w.event_types)
        ORDER BY x.n, w.id
       RETURNING id`,
      [JSON.stringify(reachable.map((p, n) => ({ n, partner_id: p.partnerId, type: p.type, payload: p.data })))],
    )) as Array<{ id: string }>;
    await this.queue.enqueueMany(manager, rows.map((row) => ({ outboxId: row.id, attempt: 1 })));
    if (rows.length) this.tx.afterCommit(() => this.queue.wake());
    return rows.length;
  }

  /**
   * Any event type, for modules that report other things (`complaint.updated`, `customer.status_changed`).
   * `partnerId` that is not a partner id (a SYSTEM source) reaches no one. Returns the rows written.
   */
  async publish(manager: EntityManager, partnerId: string | null | undefined, type: WebhookEventType, data: Record<string, unknown>): Promise<number> {
    if (!partnerId || !isUUID(partnerId)) return 0;
    const rows = (await manager.query(
      `INSERT INTO webhook_outbox (webhook_id, event_type, payload)
       SELECT id, $2, $3::jsonb FROM webhook
        WHERE partner_id = $1 AND active AND deleted_at IS NULL AND $2 = ANY (event_types)
       RETURNING id`,
      [partnerId, type, JSON.stringify(data)],
    )) as Array<{ id: string }>;
    await this.queue.enqueueMany(manager, rows.map((row) => ({ outboxId: row.id, attempt: 1 })));
    if (rows.length) this.tx.afterCommit(() => this.queue.wake());
    return rows.length;
  }
}
