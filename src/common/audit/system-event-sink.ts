import type { EntityManager } from 'typeorm';

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
  /**
   * In the caller's transaction: a new customer's first risk score. Its verification level and account age
   * are risk inputs from the start, so it is not left at 0 until an event or the periodic refresh.
   */
  customerCreated(customerId: string): Promise<void>;
}

/** Work a module does in a customer's erasure transaction, before the row is shredded (its key still exists). */
export type CustomerErasureStep = (manager: EntityManager, customerId: string) => Promise<void>;

const erasureSteps = new WeakMap<SystemEventSink, CustomerErasureStep[]>();

/**
 * For modules that keep records about a customer the customers module must not know of (complaints closes
 * the customer's open complaints): registered on the application's sink, in `onModuleInit`, and run by the
 * erasure in its transaction. Kept with the sink instance, so each application has its own steps.
 */
export function onCustomerErasure(sink: SystemEventSink, step: CustomerErasureStep): void {
  erasureSteps.set(sink, [...(erasureSteps.get(sink) ?? []), step]);
}

/** Runs the steps registered on `sink`, one after another, in the erasure's transaction. */
export async function runCustomerErasureSteps(sink: SystemEventSink, manager: EntityManager, customerId: string): Promise<void> {
  for (const step of erasureSteps.get(sink) ?? []) await step(manager, customerId);
}
