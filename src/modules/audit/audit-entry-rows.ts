import { fromDbRow, type AuditDbRow, type AuditRow } from './audit-chain';

/*
 * How audit entries travel to PostgreSQL: the log's columns, the JSON recordsets the writer binds, and the
 * conversions between an entry's columns, a stored record and a pending row as pg returns it.
 */

/** An entry's columns before the sequencer gives it an id and a time. */
export type EntryColumns = Omit<AuditRow, 'id' | 'occurredAt'>;

export const AUDIT_DATA_COLUMNS = `occurred_at, actor_type, actor_id, role, partner_id, session_id, ip, user_agent,
  request_id, action, resource_type, resource_id, customer_id, fields, outcome, details`;
export const AUDIT_INSERT_COLUMNS = `id, ${AUDIT_DATA_COLUMNS}, prev_hash, hash`;
const AUDIT_DATA_TYPES = `occurred_at timestamptz, actor_type text, actor_id text, role text, partner_id uuid, session_id uuid,
  ip text, user_agent text, request_id text, action text, resource_type text, resource_id text, customer_id uuid, fields text[],
  outcome text, details jsonb`;
/**
 * The rows travel as one JSON array bound to one parameter and are unpacked by jsonb_to_recordset with these
 * column types: the statement text is the same for 1 row and for 5 000 (PostgreSQL parses a few hundred
 * bytes, not a VALUES list of 19 casts a row, and the driver binds one value instead of thousands).
 */
export const PENDING_RECORDSET = `jsonb_to_recordset($1::jsonb) AS r(${AUDIT_DATA_TYPES})`;

/**
 * Columns usually the same for every entry of one insert (one request's, one call's): sent once, in `$2`,
 * when they are, and left out of each row in `$1` — a 100-row PII page then sends a third of the bytes for
 * PostgreSQL to parse. `prev_hash` is not sent at all: each row's is the hash of the row before it (`lag`),
 * the first's is `$3`. The stored columns are exactly those hashed; the chain tests verify every row.
 */
const SHAREABLE_COLUMNS = ['occurred_at', 'actor_type', 'actor_id', 'role', 'partner_id', 'session_id', 'ip', 'user_agent', 'request_id', 'action', 'resource_type', 'outcome'] as const;
const SHAREABLE = new Set<string>(SHAREABLE_COLUMNS);
const AUDIT_SHARED_TYPES = AUDIT_DATA_TYPES.split(',').map((c) => c.trim()).filter((c) => SHAREABLE.has(c.split(' ')[0])).join(', ');
export const AUDIT_CHAINED_SOURCE = `jsonb_to_recordset($1::jsonb) AS r(id bigint, ${AUDIT_DATA_TYPES}, hash text), jsonb_to_record($2::jsonb) AS s(${AUDIT_SHARED_TYPES})`;
export const AUDIT_CHAINED_VALUES = [
  'r.id',
  ...AUDIT_DATA_COLUMNS.split(',').map((c) => c.trim()).map((c) => (SHAREABLE.has(c) ? `COALESCE(r.${c}, s.${c})` : `r.${c}`)),
  'COALESCE(lag(r.hash) OVER (ORDER BY r.id), $3)',
  'r.hash',
].join(', ');

/** The parameters `$1`–`$3` of {@link AUDIT_CHAINED_SOURCE} for consecutive chained records. */
export function chainedParameters(records: StoredRecord[]): [string, string, string] {
  const first = records[0];
  const shared: StoredRecord = {};
  for (const column of SHAREABLE_COLUMNS) {
    const value = first[column];
    if (records.every((r) => r[column] === value)) shared[column] = value;
  }
  const rows = records.map((record) => {
    const row: StoredRecord = {};
    for (const column in record) if (column !== 'prev_hash' && !(column in shared)) row[column] = record[column];
    return row;
  });
  return [JSON.stringify(rows), JSON.stringify(shared), first.prev_hash as string];
}

/** One entry as the recordsets read it (column names as keys). */
export type StoredRecord = Record<string, unknown>;

export function storedRecord(row: EntryColumns, occurredAt: string): StoredRecord {
  return {
    id: undefined, occurred_at: occurredAt, actor_type: row.actorType, actor_id: row.actorId, role: row.role,
    partner_id: row.partnerId, session_id: row.sessionId, ip: row.ip, user_agent: row.userAgent, request_id: row.requestId,
    action: row.action, resource_type: row.resourceType, resource_id: row.resourceId, customer_id: row.customerId,
    fields: row.fields, outcome: row.outcome, details: row.details, prev_hash: undefined, hash: undefined,
  };
}

/** A pending entry as `pg` returns it. */
export type PendingDbRow = Omit<AuditDbRow, 'id' | 'prev_hash' | 'hash'>;

/** A pending entry's columns as they were hashed-to-be: what verification will rebuild from the stored row. */
export function pendingColumns(r: PendingDbRow): EntryColumns {
  const { id: _id, occurredAt: _at, ...columns } = fromDbRow({ ...r, id: '', prev_hash: '', hash: '' });
  return columns;
}

/** PostgreSQL prints uuids in lower case; hash the form that will be read back. */
export function uuidOrNull(value: string | null | undefined): string | null {
  return value ? value.toLowerCase() : null;
}

/**
 * The details as jsonb will give them back (Dates become strings, undefined disappears), so the hash
 * computed now matches the one recomputed from the stored row.
 */
export function asStoredJson(details: Record<string, unknown>): unknown {
  return JSON.parse(JSON.stringify(details)) as unknown;
}
