import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { GENESIS_HASH, type ChainBreak } from '../audit-chain';
import { checkAnchorSequence, loadAnchors, type ChainAnchor } from './audit-anchor';
import { AuditCheckpointer, type Checkpoint } from './audit-checkpointer.service';
import { walkEntries } from './chain-walk';

export interface ChainRange {
  fromId?: bigint;
  toId?: bigint;
}

export interface ChainReport {
  valid: boolean;
  /** Entries whose link and HMAC were recomputed and found intact. */
  checked: number;
  firstInvalidId: string | null;
  reason: ChainBreak | null;
  /**
   * Entries committed but not yet chained (written inside a business transaction, chained just after its
   * commit): not a break; normally 0 or a handful in flight.
   */
  unsealed: number;
  headId: string | null;
  checkpoint: Checkpoint | null;
  /** The anchor verification started from, when the entries before the first retained one were archived. */
  anchoredFrom: ChainAnchor | null;
}

/**
 * Recomputes the chain: streams rows in id order in fixed-size batches (constant memory however long the
 * log), and for each row checks that its id is the next one (a deleted row leaves a gap), that `prev_hash`
 * is the previous row's hash, and that the keyed HMAC over its columns matches `hash` (any edited column,
 * including by a superuser with triggers disabled). Then compares the head against the last checkpoint
 * written outside the database, which is what reveals rows cut off the end.
 *
 * Archived entries: when the entries before the first retained one are gone, verification starts from the
 * newest chain anchor that ends before it — which must end right before it, and whose last hash must be
 * the retained entry's `prev_hash`. Without such an anchor the gap is reported like any removed entry.
 * The anchors themselves are checked first as their own keyed chain.
 */
@Injectable()
export class AuditVerifier {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly checkpoints: AuditCheckpointer,
  ) {}

  async verify(range: ChainRange = {}): Promise<ChainReport> {
    // The checkpoint before the head: a checkpoint only ever names a committed head, and heads only grow, so
    // the head read after it is at or past it unless rows were cut. Read the other way round, a checkpoint
    // written in between (entries committed meanwhile) would name a head past the one read: a false cut.
    const checkpoint = await this.checkpoints.lastCheckpoint();
    const [headRow] = (await this.dataSource.query('SELECT id::text AS id FROM audit_entry ORDER BY audit_entry.id DESC LIMIT 1')) as Array<{ id: string }>;
    const [firstRow] = (await this.dataSource.query('SELECT id::text AS id FROM audit_entry ORDER BY audit_entry.id LIMIT 1')) as Array<{ id: string }>;
    const head = headRow ? BigInt(headRow.id) : 0n;
    const [pending] = (await this.dataSource.query('SELECT count(*)::int AS n FROM audit_entry_pending')) as Array<{ n: number }>;
    let anchoredFrom: ChainAnchor | null = null;
    const report = (checked: number, firstInvalidId: bigint | string | null = null, reason: ChainBreak | null = null): ChainReport => ({
      valid: reason === null,
      checked,
      firstInvalidId: firstInvalidId === null ? null : String(firstInvalidId),
      reason,
      unsealed: pending.n,
      headId: headRow?.id ?? null,
      checkpoint,
      anchoredFrom,
    });

    let from = range.fromId ?? 1n;
    // The head is fixed when verification starts: entries appended meanwhile are left for the next run.
    const to = range.toId !== undefined && range.toId < head ? range.toId : head;

    // Anchors that begin within what is verified (all of them for the whole chain) must form an intact chain.
    const anchors = (await loadAnchors(this.dataSource)).filter((a) => BigInt(a.firstId) <= to);
    const brokenAnchor = checkAnchorSequence(this.config.keys.auditChain, anchors);
    if (brokenAnchor) return report(0, brokenAnchor.anchor.lastId, 'ANCHOR_INVALID');

    // The first entry's predecessor: genesis, the stored row before the range, the anchor that ends right
    // before it, or (if none and only a range was asked for) the entry's own prev_hash — the whole-chain
    // run reports that gap.
    let prevHash: string | null;
    const firstRetained = firstRow ? BigInt(firstRow.id) : null;
    if (firstRetained !== null && from < firstRetained) {
      // Entries from `from` up to the first retained one are gone: archived behind an anchor, or removed.
      const anchor = anchors.filter((a) => BigInt(a.lastId) < firstRetained).at(-1);
      const firstGone = anchor && BigInt(anchor.lastId) + 1n > from ? BigInt(anchor.lastId) + 1n : from;
      if (!anchor || firstGone < firstRetained) return report(0, firstGone, 'MISSING_ENTRY');
      anchoredFrom = anchor;
      from = firstRetained;
      prevHash = anchor.lastHash;
    } else if (from === 1n) {
      prevHash = GENESIS_HASH;
    } else {
      prevHash = await this.hashAt(from - 1n);
      if (prevHash === null) {
        const anchor = anchors.find((a) => BigInt(a.lastId) === from - 1n);
        if (anchor) {
          anchoredFrom = anchor;
          prevHash = anchor.lastHash;
        }
      }
    }
    const walk = await walkEntries(this.dataSource, this.config.keys.auditChain, from, to, prevHash);
    if (walk.broken) return report(walk.checked, walk.broken.id, walk.broken.reason);
    const checked = walk.checked;

    // A cut-off tail leaves an internally valid chain; the checkpointed head shows it.
    if (checkpoint && (range.toId === undefined || range.toId >= BigInt(checkpoint.id))) {
      const checkpointId = BigInt(checkpoint.id);
      if (checkpointId > head) return report(checked, head + 1n, 'TAIL_TRUNCATED');
      // Same id, other hash: the tail was cut and the chain has since grown back past the checkpoint.
      if ((await this.hashAt(checkpointId)) !== checkpoint.hash) return report(checked, checkpointId, 'TAIL_TRUNCATED');
    }
    return report(checked);
  }

  private async hashAt(id: bigint): Promise<string | null> {
    const [row] = (await this.dataSource.query('SELECT hash FROM audit_entry WHERE id = $1', [id.toString()])) as Array<{ hash: string }>;
    return row?.hash ?? null;
  }
}
