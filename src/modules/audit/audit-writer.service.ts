import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AuditRecord, AuditSink } from '../../common/audit/audit-sink';
import { RequestContext } from '../../common/context/request-context';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import { TransactionService } from '../../database/transaction.service';
import { PeriodicJob } from '../../common/jobs/periodic-job';
import type { AuditRow } from './audit-chain';
import { asStoredJson, AUDIT_DATA_COLUMNS, PENDING_RECORDSET, storedRecord, uuidOrNull, type EntryColumns } from './audit-entry-rows';
import { AuditSequencer, bySeq, type StagedEntries } from './audit-sequencer';
import { AuditCheckpointer } from './chain/audit-checkpointer.service';

/** Leftover pending entries (an instance that died between its commit and the chaining) are swept this often. */
const PENDING_SWEEP_MS = 5_000;

/**
 * The one sequencer of the audit chain (SPEC §8). Entries reach the chain in two ways:
 *
 * - **Inside a business transaction** they are inserted into `audit_entry_pending` and commit (or roll back)
 *   with it; no lock is taken there, so business transactions never queue behind each other for the chain.
 *   Right after the commit, and before the transaction's `run()` returns, the sequencer chains them.
 * - **Outside a transaction** (PII reads, denied requests, token use) they are appended by the sequencer
 *   directly, grouped with whatever else is waiting.
 *
 * The sequencer (AuditSequencer, one per instance) runs one transaction at a time and takes a
 * transaction-scoped advisory lock across instances; under it, it moves the committed pending entries
 * (oldest first) and the grouped ones into `audit_entry` as `head.id + 1…`, each chained to the one before.
 * So chain order is the order in which entries were committed to the log, ids have no gaps (they are not
 * taken from a sequence, and a rolled-back business transaction leaves nothing pending), and every id at or
 * below the committed head is final — which lets readers (detector, export) follow the log with an id cursor.
 */
@Injectable()
export class AuditWriter implements AuditSink, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Audit');
  /** What each open transaction has staged so far; it asks once for its entries to be chained after commit. */
  private readonly staged = new WeakMap<EntityManager, StagedEntries>();
  private readonly sweep = new PeriodicJob('audit pending sweep', this.logger, () => this.chainPending());
  private readonly sequencer: AuditSequencer;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    checkpoints: AuditCheckpointer,
  ) {
    this.sequencer = new AuditSequencer(config, tx, checkpoints, this.logger);
  }

  onApplicationBootstrap(): void {
    // At start-up too: entries another (crashed) instance committed but never chained.
    this.sweep.start(PENDING_SWEEP_MS, { runNow: true });
  }

  async onModuleDestroy(): Promise<void> {
    await this.sweep.stop();
    await this.sequencer.idle();
  }

  async record(entry: AuditRecord): Promise<void> {
    await this.recordMany([entry]);
  }

  /**
   * Appends several entries in as few statements as possible (e.g. one PII-read entry per customer of a
   * list). Joins the caller's transaction like `record`: then they commit with it and are chained right after.
   */
  async recordMany(entries: readonly AuditRecord[]): Promise<void> {
    if (!entries.length) return;
    const context = this.contextColumns();
    const rows = entries.map((entry) => this.toRow(entry, context));
    if (this.tx.inTransaction()) await this.tx.run((manager) => this.stage(manager, rows));
    else await this.sequencer.append(rows);
    for (const entry of entries) if (entry.outcome !== 'SUCCESS') this.logger.debug(`${entry.action} ${entry.outcome}`);
  }

  /**
   * Chains every committed pending entry; resolves once those committed before the call are in the log.
   * Never rejects: the entries are committed, and a failure leaves them for the next run or the sweep.
   */
  chainPending(): Promise<void> {
    return this.chainCommitted();
  }

  /** `chainPending`, for a committed transaction of this instance that names what it staged. */
  private async chainCommitted(staged?: StagedEntries): Promise<void> {
    if (staged) await Promise.all(staged.inserts);
    return this.sequencer.chainCommitted(staged?.seqsUnknown ? undefined : staged);
  }

  /**
   * Whether a DENIED entry of this request by this actor is committed (the denied-access plugin records one
   * per request), chained or not yet. Reads the partial indexes of denied entries over the last minutes only.
   */
  async hasDeniedEntry(requestId: string, actorId: string): Promise<boolean> {
    const rows = (await this.tx.manager().query(
      `SELECT 1 FROM audit_entry WHERE outcome = 'DENIED' AND actor_id = $2 AND occurred_at > now() - interval '15 minutes' AND request_id = $1
       UNION ALL
       SELECT 1 FROM audit_entry_pending WHERE outcome = 'DENIED' AND request_id = $1 AND actor_id = $2
       LIMIT 1`,
      [requestId, actorId],
    )) as unknown[];
    return rows.length > 0;
  }

  /**
   * In the caller's transaction: the entries commit or roll back with it; the chaining waits for the commit.
   * The insert is the transaction's last statement, sent with its COMMIT where the connection allows.
   */
  private async stage(manager: EntityManager, rows: EntryColumns[]): Promise<void> {
    const occurredAt = new Date().toISOString();
    const records = rows.map((row) => storedRecord(row, occurredAt));
    const inserted = await this.tx.atCommit<{ seq: string }>(
      manager,
      `INSERT INTO audit_entry_pending (${AUDIT_DATA_COLUMNS}) SELECT ${AUDIT_DATA_COLUMNS} FROM ${PENDING_RECORDSET} RETURNING seq::text`,
      [JSON.stringify(records)],
    );
    let staged = this.staged.get(manager);
    if (!staged) {
      this.staged.set(manager, (staged = { entries: [], inserts: [] }));
      const committed = staged;
      void this.tx.afterCommitAwait(() => this.chainCommitted(committed));
    }
    const transaction = staged;
    // Rejected when the transaction fails (then nothing is chained), or, rarely, when it committed but the
    // reply could not be read: then the chaining reads the pending table instead.
    staged.inserts.push(
      inserted.rows.then(
        (stored) => {
          // One insert numbers its rows in the order it reads them from the recordset, which is `records`'
          // order; the fast path hashes each row for the seq it pairs with here.
          const seqs = stored.map((r) => r.seq).sort(bySeq);
          if (seqs.length !== rows.length) transaction.seqsUnknown = true;
          else seqs.forEach((seq, i) => transaction.entries.push({ seq, row: rows[i] }));
        },
        () => void (transaction.seqsUnknown = true),
      ),
    );
  }

  /** The columns every entry of one call shares: who is acting, from where, in which request. */
  private contextColumns(): Pick<AuditRow, 'actorType' | 'actorId' | 'role' | 'partnerId' | 'sessionId' | 'ip' | 'userAgent' | 'requestId'> {
    const principal = this.context.principal;
    const requestId = this.context.requestId;
    const actor = principal?.kind === 'USER'
      ? { type: 'USER' as const, id: principal.userId, role: principal.role, sessionId: principal.sessionId, partnerId: null }
      : principal?.kind === 'PARTNER'
        ? { type: 'PARTNER' as const, id: principal.tokenId, role: 'PARTNER', partnerId: principal.partnerId, sessionId: null }
        : { type: requestId ? ('ANONYMOUS' as const) : ('SYSTEM' as const), id: null, role: null, partnerId: null, sessionId: null };
    return {
      actorType: actor.type,
      actorId: actor.id ?? null,
      role: actor.role ?? null,
      partnerId: uuidOrNull(actor.partnerId),
      sessionId: uuidOrNull(actor.sessionId),
      ip: this.context.ip ?? null,
      userAgent: this.context.userAgent ?? null,
      requestId: requestId ?? null,
    };
  }

  private toRow(entry: AuditRecord, context: ReturnType<AuditWriter['contextColumns']>): EntryColumns {
    // Built field by field (no spreads): a 100-row PII page makes 100 of these per request.
    const actor = entry.actor;
    return {
      actorType: actor ? actor.type : context.actorType,
      actorId: actor ? (actor.id ?? null) : context.actorId,
      role: actor ? (actor.role ?? null) : context.role,
      partnerId: actor ? uuidOrNull(actor.partnerId) : context.partnerId,
      sessionId: actor ? uuidOrNull(actor.sessionId) : context.sessionId,
      ip: context.ip,
      userAgent: context.userAgent,
      requestId: context.requestId,
      action: entry.action,
      resourceType: entry.resourceType ?? null,
      resourceId: entry.resourceId ?? null,
      customerId: uuidOrNull(entry.customerId),
      fields: entry.fields ? [...entry.fields] : [],
      outcome: entry.outcome,
      details: asStoredJson(entry.details ?? {}),
    };
  }
}
