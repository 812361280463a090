/**
 * What any module needs of the audit log. `common` declares it and the audit module provides it, so the
 * dependency arrow points from audit down to common (the guard records denials through it too).
 */
export const AUDIT_SINK = Symbol('AUDIT_SINK');

/** A full-value read of a customer's PII fields (the fields named), one entry per customer. */
export const PII_READ_ACTION = 'customer.read_pii';
/** A customer search by a full email, phone or national id (blind index); under each customer it returned. */
export const CUSTOMER_LOOKUP_ACTION = 'customer.lookup';

/**
 * The `details.reason` of an `access.denied` entry whose refusals are all NOT_FOUND for single items of a batch
 * (events of an `ingestEvents` call naming a customer that is absent, or out of the partner's scope, which the
 * API answers alike): rejected input, recorded, but not counted as the caller reaching for refused access.
 */
export const BATCH_ITEMS_NOT_FOUND = 'batch items not found';

export type AuditOutcome = 'SUCCESS' | 'DENIED' | 'ERROR';

export interface AuditActorOverride {
  type: 'USER' | 'PARTNER' | 'SYSTEM' | 'ANONYMOUS';
  id?: string | null;
  role?: string | null;
  partnerId?: string | null;
  sessionId?: string | null;
}

export interface AuditRecord {
  /** Verb in the domain's words, e.g. `auth.login`, `user.create`, `customer.read_pii`. */
  action: string;
  outcome: AuditOutcome;
  resourceType?: string;
  resourceId?: string | null;
  customerId?: string | null;
  /** Field names (never values), e.g. the PII fields read. */
  fields?: string[];
  /** Structured detail without PII. */
  details?: Record<string, unknown>;
  /** Actor when it is not the request's principal (e.g. a failed sign-in names the account tried). */
  actor?: AuditActorOverride;
}

export interface AuditSink {
  /**
   * Appends one entry. Inside `TransactionService.run()` it joins that transaction (the entry commits or
   * rolls back with the change it records); outside, it commits on its own before returning.
   */
  record(entry: AuditRecord): Promise<void>;
  /** Several entries under one lock, in as few statements as possible (e.g. one PII-read entry per customer of a page). */
  recordMany(entries: readonly AuditRecord[]): Promise<void>;
}
