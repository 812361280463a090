import type { DataSource } from 'typeorm';
import { chainHash, GENESIS_HASH, type AuditRow } from '../audit-chain';
import { AUDIT_LOCKS } from '../audit.settings';
import { anchorHash, checkAnchorSequence, loadAnchors, type ChainAnchor } from './audit-anchor';
import { walkEntries } from './chain-walk';

export interface SealOptions {
  /** The segment holds the entries that occurred before this instant (and follow the newest anchor). */
  before: Date;
  /** The operator's name for the segment; default `before <ISO instant>`. */
  segment?: string;
  /** Who sealed it (a ticket or operator reference, no personal data); default `npm run audit:anchor`. */
  sealedBy?: string;
}

export type SealResult =
  | { sealed: ChainAnchor; auditEntryId: string }
  | { sealed: null; reason: string };

/** Raised when the segment or the anchors already sealed do not verify: nothing is sealed over a break. */
export class AnchorRefusedError extends Error {}

/**
 * Seals the chain anchor for the next closed segment: the entries after the newest anchor (from entry 1 for
 * the first) that occurred before `before`. The segment is verified first — links, HMACs, no gap, its
 * first `prev_hash` equal to the previous anchor's last hash — and nothing is sealed over a break. The
 * anchor row and an `audit.anchor_seal` entry are then written in one transaction under the sequencer's
 * lock, so anchors are numbered without gaps and the seal is itself in the chain.
 *
 * Verification runs before the lock (entries at or below the committed head are final): a long segment
 * never makes appends wait.
 */
export async function sealAuditAnchor(dataSource: DataSource, key: Buffer, options: SealOptions): Promise<SealResult> {
  const anchors = await loadAnchors(dataSource);
  const broken = checkAnchorSequence(key, anchors);
  if (broken) throw new AnchorRefusedError(`anchor ${broken.anchor.id} (entries ${broken.anchor.firstId}..${broken.anchor.lastId}) does not verify (${broken.problem}); not sealing`);
  const previous = anchors.at(-1);
  const firstId = previous ? BigInt(previous.lastId) + 1n : 1n;

  const [last] = (await dataSource.query(
    `SELECT id::text AS id FROM audit_entry WHERE occurred_at < $1 AND id >= $2 ORDER BY occurred_at DESC, id DESC LIMIT 1`,
    [options.before, firstId.toString()],
  )) as Array<{ id: string }>;
  if (!last) return { sealed: null, reason: `no entry after ${previous ? `anchor ${previous.id}` : 'the start'} occurred before ${options.before.toISOString()}` };
  const lastId = BigInt(last.id);

  const walk = await walkEntries(dataSource, key, firstId, lastId, previous?.lastHash ?? GENESIS_HASH);
  if (walk.broken) throw new AnchorRefusedError(`entries ${firstId}..${lastId} do not verify: ${walk.broken.reason} at ${walk.broken.id}; not sealing`);
  const [bounds] = (await dataSource.query(
    `SELECT (SELECT occurred_at FROM audit_entry WHERE id = $1) AS first_at, (SELECT occurred_at FROM audit_entry WHERE id = $2) AS last_at`,
    [firstId.toString(), lastId.toString()],
  )) as Array<{ first_at: Date; last_at: Date }>;

  return dataSource.transaction(async (manager) => {
    await manager.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCKS.append]);
    const [newest] = (await manager.query('SELECT max(id)::text AS id FROM audit_chain_anchor')) as Array<{ id: string | null }>;
    if ((newest?.id ?? null) !== (previous?.id ?? null)) throw new AnchorRefusedError('another anchor was sealed meanwhile; run again');

    const fields: Omit<ChainAnchor, 'hash'> = {
      id: ((previous ? BigInt(previous.id) : 0n) + 1n).toString(),
      segment: options.segment ?? `before ${options.before.toISOString()}`,
      firstId: firstId.toString(),
      lastId: lastId.toString(),
      firstOccurredAt: bounds.first_at.toISOString(),
      lastOccurredAt: bounds.last_at.toISOString(),
      lastHash: walk.lastHash!,
      entryCount: (lastId - firstId + 1n).toString(),
      sealedAt: new Date().toISOString(),
      sealedBy: options.sealedBy ?? 'npm run audit:anchor',
    };
    const anchor: ChainAnchor = { ...fields, hash: anchorHash(key, previous?.hash ?? GENESIS_HASH, fields) };
    await manager.query(
      `INSERT INTO audit_chain_anchor (id, segment, first_id, last_id, first_occurred_at, last_occurred_at, last_hash, entry_count, sealed_at, sealed_by, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [anchor.id, anchor.segment, anchor.firstId, anchor.lastId, anchor.firstOccurredAt, anchor.lastOccurredAt, anchor.lastHash, anchor.entryCount, anchor.sealedAt, anchor.sealedBy, anchor.hash],
    );
    const auditEntryId = await appendSealEntry(manager, key, anchor);
    return { sealed: anchor, auditEntryId };
  });
}

/**
 * The `audit.anchor_seal` entry, appended the way `AuditWriter` appends (same lock, already held: head + 1,
 * chained to the head). Written here because this runs outside the application (no request context, no
 * Nest container). A running writer notices the foreign append through its head guard.
 */
async function appendSealEntry(manager: { query(sql: string, parameters?: unknown[]): Promise<unknown> }, key: Buffer, anchor: ChainAnchor): Promise<string> {
  const [head] = (await manager.query('SELECT id::text AS id, hash FROM audit_entry ORDER BY audit_entry.id DESC LIMIT 1')) as Array<{ id: string; hash: string }>;
  const row: AuditRow = {
    id: (BigInt(head?.id ?? '0') + 1n).toString(),
    occurredAt: new Date().toISOString(),
    actorType: 'SYSTEM',
    actorId: null,
    role: null,
    partnerId: null,
    sessionId: null,
    ip: null,
    userAgent: null,
    requestId: null,
    action: 'audit.anchor_seal',
    resourceType: 'AuditChainAnchor',
    resourceId: anchor.id,
    customerId: null,
    fields: [],
    outcome: 'SUCCESS',
    details: { segment: anchor.segment, firstId: anchor.firstId, lastId: anchor.lastId, lastHash: anchor.lastHash, entryCount: anchor.entryCount, sealedBy: anchor.sealedBy },
  };
  const prevHash = head?.hash ?? GENESIS_HASH;
  await manager.query(
    `INSERT INTO audit_entry (id, occurred_at, actor_type, actor_id, role, partner_id, session_id, ip, user_agent, request_id,
       action, resource_type, resource_id, customer_id, fields, outcome, details, prev_hash, hash)
     VALUES ($1, $2, $3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, $4, $5, $6, NULL, '{}', $7, $8::jsonb, $9, $10)`,
    [row.id, row.occurredAt, row.actorType, row.action, row.resourceType, row.resourceId, row.outcome, JSON.stringify(row.details), prevHash, chainHash(key, prevHash, row)],
  );
  return row.id;
}
