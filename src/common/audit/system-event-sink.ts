/**
 * How modules that monitoring must not depend on (customers, complaints, verification) tell it what
 * happened: they record a SYSTEM event through this sink, which the monitoring module provides. The event
 * is screened like any other and its decision recorded, inside the caller's transaction.
 */
export const SYSTEM_EVENT_SINK = Symbol('SYSTEM_EVENT_SINK');

export interface SystemEvent {
  customerId: string;
  type: 'PROFILE_CHANGE' | 'VERIFICATION' | 'COMPLAINT';
  occurredAt?: Date;
  /** Non-PII attributes, e.g. `{ fields: ['email', 'phone'] }` for a profile change. */
  attributes: Record<string, unknown>;
}

export interface SystemEventSink {
  record(event: SystemEvent): Promise<{ eventId: string; decision: string }>;
}
