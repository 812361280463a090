/**
 * How modules that monitoring must not depend on (customers, complaints, verification) tell it what
 * happened: they record a SYSTEM event through this sink, which the monitoring module provides. The event
 * is screened like any other and its decision recorded, inside the caller's transaction. A change of a
 * customer's status goes the same way, to the onboarding partner's `customer.status_changed` webhooks.
 */
export const SYSTEM_EVENT_SINK = Symbol('SYSTEM_EVENT_SINK');

export interface SystemEvent {
  customerId: string;
  type: 'PROFILE_CHANGE' | 'VERIFICATION' | 'COMPLAINT';
  occurredAt?: Date;
  /** Non-PII attributes, e.g. `{ fields: ['email', 'phone'] }` for a profile change. */
  attributes: Record<string, unknown>;
}

/** A customer's status changed (erasure, later sanctions); ids and states only, never PII. */
export interface CustomerStatusChange {
  customerId: string;
  externalRef: string;
  /** The partner that onboarded the customer: its webhooks hear of it (null: no partner does). */
  onboardedByPartnerId: string | null;
  from: string;
  to: string;
}

export interface SystemEventSink {
  record(event: SystemEvent): Promise<{ eventId: string; decision: string }>;
  /** In the caller's transaction: queues the `customer.status_changed` webhook messages. */
  customerStatusChanged(change: CustomerStatusChange): Promise<void>;
}
