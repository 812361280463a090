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
 * `canonicalRow` for the rows of one append, byte for byte: the JSON of values that repeat from row to row
 * (actor, session, request, action) is made once per append rather than once per row — a
 * 100-row PII page appends 100 entries that differ only in id, customer and hash.
 */
export class CanonicalRowWriter {
  private readonly texts = new Map<string, string>();

  row(id: string, occurredAt: string, row: Omit<AuditRow, 'id' | 'occurredAt'>): string {
    return (
      '[' + this.text(id) + ',' + this.text(occurredAt) + ',' + this.text(row.actorType) + ',' + this.text(row.actorId) + ',' +
      this.text(row.role) + ',' + this.text(row.partnerId) + ',' + this.text(row.sessionId) + ',' + this.text(row.ip) + ',' +
      this.text(row.userAgent) + ',' + this.text(row.requestId) + ',' + this.text(row.action) + ',' + this.text(row.resourceType) + ',' +
      this.text(row.resourceId) + ',' + this.text(row.customerId) + ',' + this.list(row.fields) + ',' + this.text(row.outcome) + ',' +
      canonicalJson(row.details) + ']'
    );
  }

  private text(value: string | null | undefined): string {
    if (typeof value !== 'string') return canonicalJson(value);
    let json = this.texts.get(value);
    if (json === undefined) this.texts.set(value, (json = JSON.stringify(value)));
    return json;
  }

  private list(values: string[]): string {
    // A list of strings serialises canonically as plain JSON.
    if (Array.isArray(values) && values.every((v) => typeof v === 'string')) return JSON.stringify(values);
    return canonicalJson(values);
  }
}

/**
 * Keyed with AUDIT_CHAIN_KEY (HMAC-SHA-256) rather than a bare hash: someone with database access alone
 * cannot recompute a valid chain after editing rows.
 */
export function chainHash(key: Buffer, prevHash: string, row: AuditRow): string {
  return chainHashOf(key, prevHash, canonicalRow(row));
}

/** The same hash from a row already in canonical form (`canonicalRow` or `CanonicalRowWriter`). */
export function chainHashOf(key: Buffer, prevHash: string, canonical: string): string {
  // One update of the joined text (the same bytes): each update() is a call into OpenSSL.
  return createHmac('sha256', key).update(prevHash + '\n' + canonical).digest('hex');
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
