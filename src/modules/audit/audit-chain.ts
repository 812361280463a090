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

/**
 * JSON with object keys sorted at every level, so the same row always serialises to the same bytes.
 * Written as loops: it runs once per audit entry on the request path (a 100-row PII page writes 100).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i]);
    return out + ']';
  }
  const object = value as Record<string, unknown>;
  // Default sort order is UTF-16 code-unit order, the same as comparing keys with `<`.
  const keys = Object.keys(object).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = object[key];
    if (item === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(key) + ':' + canonicalJson(item);
    first = false;
  }
  return out + '}';
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

/** Break kinds `verifyAuditChain` reports (`AuditChainReport.reason`). */
export type ChainBreak = 'MISSING_ENTRY' | 'PREV_HASH_MISMATCH' | 'HASH_MISMATCH' | 'TAIL_TRUNCATED' | 'ANCHOR_INVALID';

/** Columns as selected by `AUDIT_COLUMNS`, straight from `pg`. */
export interface AuditDbRow {
  id: string;
  occurred_at: Date;
  actor_type: string;
  actor_id: string | null;
  role: string | null;
  partner_id: string | null;
  session_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  customer_id: string | null;
  fields: string[];
  outcome: string;
  details: unknown;
  prev_hash: string;
  hash: string;
}

/**
 * Every column, with the bigint id as text so it never passes through a JavaScript number. The alias shadows
 * the column in ORDER BY (which would then sort as text): order by `audit_entry.id` in queries using it.
 */
export const AUDIT_COLUMNS = `id::text AS id, occurred_at, actor_type, actor_id, role, partner_id, session_id, ip, user_agent,
  request_id, action, resource_type, resource_id, customer_id, fields, outcome, details, prev_hash, hash`;

/** Rebuilds the hashed form of a stored row: exactly what the writer hashed, so verification can recompute it. */
export function fromDbRow(r: AuditDbRow): AuditRow {
  return {
    id: r.id,
    occurredAt: r.occurred_at.toISOString(),
    actorType: r.actor_type,
    actorId: r.actor_id,
    role: r.role,
    partnerId: r.partner_id,
    sessionId: r.session_id,
    ip: r.ip,
    userAgent: r.user_agent,
    requestId: r.request_id,
    action: r.action,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    customerId: r.customer_id,
    fields: r.fields,
    outcome: r.outcome,
    details: r.details,
  };
}
