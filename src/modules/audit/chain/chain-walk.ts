import { AUDIT_COLUMNS, chainHash, fromDbRow, type AuditDbRow, type ChainBreak } from '../audit-chain';
import { AUDIT_SETTINGS } from '../audit.settings';
import type { SqlRunner } from './audit-anchor';

/** The outcome of checking entries `from..to` in order. */
export interface EntryWalk {
  /** Entries found intact before the first break. */
  checked: number;
  broken: { id: string; reason: ChainBreak } | null;
  /** The hash of the last intact entry (null when none was checked). */
  lastHash: string | null;
}

/**
 * Streams entries `from..to` in id order in fixed-size batches (constant memory however long the log) and
 * checks each: its id is the next one (a deleted row leaves a gap), its `prev_hash` is the previous hash
 * (`prevHash` for the first; null takes the first row's own), and its keyed HMAC matches `hash`.
 */
export async function walkEntries(sql: SqlRunner, key: Buffer, from: bigint, to: bigint, prevHash: string | null): Promise<EntryWalk> {
  let expectedId = from;
  let checked = 0;
  let lastHash: string | null = null;
  const broken = (id: bigint | string, reason: ChainBreak): EntryWalk => ({ checked, broken: { id: String(id), reason }, lastHash });
  const fetchFrom = (id: bigint) =>
    sql.query(
      `SELECT ${AUDIT_COLUMNS} FROM audit_entry WHERE id >= $1 AND id <= $2 ORDER BY audit_entry.id LIMIT $3`,
      [id.toString(), to.toString(), AUDIT_SETTINGS.verification.batchSize],
    ) as Promise<AuditDbRow[]>;
  let next = expectedId <= to ? fetchFrom(expectedId) : null;
  while (next) {
    const rows = await next;
    if (!rows.length) return broken(expectedId, 'MISSING_ENTRY');
    // Fetch the next batch while this one is hashed: two batches in memory at most.
    const lastId = BigInt(rows[rows.length - 1].id);
    next = lastId < to ? fetchFrom(lastId + 1n) : null;
    next?.catch(() => undefined);
    for (const row of rows) {
      if (BigInt(row.id) !== expectedId) return broken(expectedId, 'MISSING_ENTRY');
      if (prevHash !== null && row.prev_hash !== prevHash) return broken(row.id, 'PREV_HASH_MISMATCH');
      if (chainHash(key, row.prev_hash, fromDbRow(row)) !== row.hash) return broken(row.id, 'HASH_MISMATCH');
      prevHash = row.hash;
      lastHash = row.hash;
      expectedId += 1n;
      checked += 1;
    }
  }
  if (expectedId <= to) return broken(expectedId, 'MISSING_ENTRY');
  return { checked, broken: null, lastHash };
}
