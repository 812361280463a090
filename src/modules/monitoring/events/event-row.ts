import type { EventModel } from '../models/event.model';
import type { Decision, EventType, HoldStatus } from '../models/monitoring.enums';

export type EventRow = {
  id: string; customer_id: string; type: EventType; source: string; occurred_at: Date; received_at: Date; amount: string | null;
  currency: string | null; channel: string | null; country: string | null; device_id: string | null; ip_address: string | null;
  counterparty_ref: string | null; flags: string[]; attributes: Record<string, unknown>; decision: Decision; hold_status: HoldStatus | null;
  triggered_rule_ids: string[]; account_manager_id?: string | null;
};

export const EVENT_COLUMNS = `e.id, e.customer_id, e.type, e.source, e.occurred_at, e.received_at, e.amount::text AS amount, e.currency, e.channel,
  e.country, e.device_id, e.ip_address, e.counterparty_ref, e.flags, e.attributes, e.decision, e.hold_status, e.triggered_rule_ids`;

export const toEventModel = (r: EventRow): EventModel => ({
  id: r.id, customerId: r.customer_id, type: r.type, source: r.source, occurredAt: r.occurred_at, receivedAt: r.received_at,
  amount: r.amount, currency: r.currency, channel: r.channel, country: r.country, deviceId: r.device_id, ipAddress: r.ip_address,
  counterpartyRef: r.counterparty_ref, flags: r.flags, attributes: r.attributes, decision: r.decision, holdStatus: r.hold_status,
  accountManagerId: r.account_manager_id ?? null, triggeredRuleIds: r.triggered_rule_ids,
});
