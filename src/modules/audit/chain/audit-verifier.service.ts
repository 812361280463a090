import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { AUDIT_COLUMNS, chainHash, fromDbRow, GENESIS_HASH, type AuditDbRow, type ChainBreak } from '../audit-chain';
import { AUDIT_SETTINGS } from '../audit.settings';
import { AuditCheckpointer, type Checkpoint } from './audit-checkpointer.service';

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
  /** Always 0: entries are sealed by the writer inside their own transaction (no deferred sealer). */
  unsealed: number;
  headId: string | null;
  checkpoint: Checkpoint | null;
}

/**
 * Recomputes the chain: streams rows in id order in fixed-size batches (constant memory however long the
 * log), and for each row checks that its id is the next one (a deleted row leaves a gap), that `prev_hash`
 * is the previous row's hash, and that the keyed HMAC over its columns matches `hash` (any edited column,
 * including by a superuser with triggers disabled). Then compares the head against the last checkpoint
 * written outside the database, which is what reveals rows cut off the end.
 */
@Injectable()
export class AuditVerifier {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly checkpoints: AuditCheckpointer,
  ) {}

  async verify(range: ChainRange = {}): Promise<ChainReport> {
    const [headRow] = (await this.dataSource.query('SELECT id::text AS id FROM audit_entry ORDER BY audit_entry.id DESC LIMIT 1')) as Array<{ id: string }>;
    const head = headRow ? BigInt(headRow.id) : 0n;
    const checkpoint = await this.checkpoints.lastCheckpoint();
    const report = (checked: number, firstInvalidId: bigint | string | null = null, reason: ChainBreak | null = null): ChainReport => ({
      valid: reason === null,
      checked,
      firstInvalidId: firstInvalidId === null ? null : String(firstInvalidId),
      reason,
      unsealed: 0,
      headId: headRow?.id ?? null,
      checkpoint,
    });

    const from = range.fromId ?? 1n;
    // The head is fixed when verification starts: entries appended meanwhile are left for the next run.
    const to = range.toId !== undefined && range.toId < head ? range.toId : head;
    let expectedId = from;
    // The first entry's predecessor: genesis, the stored row before the range, or (if that row is gone and
    // only a range was asked for) the entry's own prev_hash — the whole-chain run reports that gap.
    let prevHash: string | null = from === 1n ? GENESIS_HASH : await this.hashAt(from - 1n);
    let checked = 0;

    const fetchFrom = (id: bigint) =>
      this.dataSource.query(
        `SELECT ${AUDIT_COLUMNS} FROM audit_entry WHERE id >= $1 AND id <= $2 ORDER BY audit_entry.id LIMIT $3`,
        [id.toString(), to.toString(), AUDIT_SETTINGS.verification.batchSize],
      ) as Promise<AuditDbRow[]>;
    let next = expectedId <= to ? fetchFrom(expectedId) : null;
    while (next) {
      const rows = await next;
      if (!rows.length) return report(checked, expectedId, 'MISSING_ENTRY');
      // Fetch the next batch while this one is hashed: two batches in memory at most.
      const lastId = BigInt(rows[rows.length - 1].id);
      next = lastId < to ? fetchFrom(lastId + 1n) : null;
      next?.catch(() => undefined);
      for (const row of rows) {
        if (BigInt(row.id) !== expectedId) return report(checked, expectedId, 'MISSING_ENTRY');
        if (prevHash !== null && row.prev_hash !== prevHash) return report(checked, row.id, 'PREV_HASH_MISMATCH');
        if (chainHash(this.config.keys.auditChain, row.prev_hash, fromDbRow(row)) !== row.hash) return report(checked, row.id, 'HASH_MISMATCH');
        prevHash = row.hash;
        expectedId += 1n;
        checked += 1;
      }
    }
    if (expectedId <= to) return report(checked, expectedId, 'MISSING_ENTRY');

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
