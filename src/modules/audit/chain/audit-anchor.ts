import { createHmac } from 'node:crypto';
import { canonicalJson, GENESIS_HASH } from '../audit-chain';

/** Anything that runs SQL: a DataSource, an EntityManager or a QueryRunner. */
export interface SqlRunner {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

/**
 * A sealed chain anchor (`audit_chain_anchor`): entries `firstId..lastId` form a closed segment whose last
 * entry had `lastHash`. Once the segment is archived, the first retained entry's `prev_hash` must equal it.
 */
export interface ChainAnchor {
  id: string;
  segment: string;
  firstId: string;
  lastId: string;
  firstOccurredAt: string;
  lastOccurredAt: string;
  lastHash: string;
  entryCount: string;
  sealedAt: string;
  sealedBy: string;
  hash: string;
}

/** Anchor columns as `pg` returns them with the bigints as text. */
export const ANCHOR_COLUMNS = `id::text AS id, segment, first_id::text AS first_id, last_id::text AS last_id, first_occurred_at,
  last_occurred_at, last_hash, entry_count::text AS entry_count, sealed_at, sealed_by, hash`;

interface AnchorDbRow {
  id: string;
  segment: string;
  first_id: string;
  last_id: string;
  first_occurred_at: Date;
  last_occurred_at: Date;
  last_hash: string;
  entry_count: string;
  sealed_at: Date;
  sealed_by: string;
  hash: string;
}

export function fromAnchorRow(r: AnchorDbRow): ChainAnchor {
  return {
    id: r.id,
    segment: r.segment,
    firstId: r.first_id,
    lastId: r.last_id,
    firstOccurredAt: r.first_occurred_at.toISOString(),
    lastOccurredAt: r.last_occurred_at.toISOString(),
    lastHash: r.last_hash,
    entryCount: r.entry_count,
    sealedAt: r.sealed_at.toISOString(),
    sealedBy: r.sealed_by,
    hash: r.hash,
  };
}

/**
 * Keyed like the audit chain (SPEC §8): HMAC-SHA-256 with AUDIT_CHAIN_KEY over the previous anchor's hash
 * (genesis for the first) and every other column, so anchors chain end to end and none can be forged,
 * edited or removed from the middle with database access alone.
 */
export function anchorHash(key: Buffer, previousAnchorHash: string, a: Omit<ChainAnchor, 'hash'>): string {
  return createHmac('sha256', key)
    .update('audit_chain_anchor\n')
    .update(previousAnchorHash)
    .update('\n')
    .update(canonicalJson([a.id, a.segment, a.firstId, a.lastId, a.firstOccurredAt, a.lastOccurredAt, a.lastHash, a.entryCount, a.sealedAt, a.sealedBy]))
    .digest('hex');
}

/** Every anchor, oldest first (a few a month: small enough to read whole). */
export async function loadAnchors(sql: SqlRunner): Promise<ChainAnchor[]> {
  const rows = (await sql.query(`SELECT ${ANCHOR_COLUMNS} FROM audit_chain_anchor ORDER BY audit_chain_anchor.id`)) as AnchorDbRow[];
  return rows.map(fromAnchorRow);
}

/** Why an anchor cannot be trusted (`null`: the sequence is intact). */
export interface AnchorBreak {
  anchor: ChainAnchor;
  problem: 'SEQUENCE' | 'HASH';
}

/**
 * Checks the anchors as one chain: numbered 1, 2, 3…, each segment starting right after the previous one
 * (the first at entry 1), and each HMAC recomputed over its predecessor's hash. A removed, inserted or
 * edited anchor breaks it.
 */
export function checkAnchorSequence(key: Buffer, anchors: readonly ChainAnchor[]): AnchorBreak | null {
  let previousHash = GENESIS_HASH;
  let expectedId = 1n;
  let expectedFirst = 1n;
  for (const anchor of anchors) {
    if (BigInt(anchor.id) !== expectedId || BigInt(anchor.firstId) !== expectedFirst) return { anchor, problem: 'SEQUENCE' };
    const { hash, ...rest } = anchor;
    if (anchorHash(key, previousHash, rest) !== hash) return { anchor, problem: 'HASH' };
    previousHash = hash;
    expectedId += 1n;
    expectedFirst = BigInt(anchor.lastId) + 1n;
  }
  return null;
}
