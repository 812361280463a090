import { createHmac } from 'node:crypto';

/** The chain's first `prev_hash`. */
export const GENESIS_HASH = '0'.repeat(64);

/** Every column of an audit row, in the order the hash covers them. */
export interface AuditRow {
  id: string;
  occurredAt: string;
  actorType: string;
  actorId: string | null;
  role: string | null;
  partnerId: string | null;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  customerId: string | null;
  fields: string[];
  outcome: string;
  details: unknown;
}

/** JSON with object keys sorted at every level, so the same row always serialises to the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function canonicalRow(row: AuditRow): string {
  return canonicalJson([
    row.id, row.occurredAt, row.actorType, row.actorId, row.role, row.partnerId, row.sessionId, row.ip,
    row.userAgent, row.requestId, row.action, row.resourceType, row.resourceId, row.customerId, row.fields,
    row.outcome, row.details,
  ]);
}

/**
 * Keyed with AUDIT_CHAIN_KEY (HMAC-SHA-256) rather than a bare hash: someone with database access alone
 * cannot recompute a valid chain after editing rows.
 */
export function chainHash(key: Buffer, prevHash: string, row: AuditRow): string {
  return createHmac('sha256', key).update(prevHash).update('\n').update(canonicalRow(row)).digest('hex');
}
