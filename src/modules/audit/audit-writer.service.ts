import { Inject, Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AuditRecord, AuditSink } from '../../common/audit/audit-sink';
import { RequestContext } from '../../common/context/request-context';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import { TransactionService } from '../../database/transaction.service';
import { chainHash, GENESIS_HASH, type AuditRow } from './audit-chain';
import { AuditCheckpointer } from './chain/audit-checkpointer.service';
import { AUDIT_LOCKS } from './audit.settings';

const AUDIT_INSERT_COLUMNS = `id, occurred_at, actor_type, actor_id, role, partner_id, session_id, ip, user_agent,
  request_id, action, resource_type, resource_id, customer_id, fields, outcome, details, prev_hash, hash`;
/** Types of the columns above, for parameters inside VALUES (which, unlike a plain INSERT, infers nothing). */
const COLUMN_CASTS = ['bigint', 'timestamptz', 'text', 'text', 'text', 'uuid', 'uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'uuid', 'text[]', 'text', 'jsonb', 'text', 'text'];

/** 19 parameters a row: stay well below PostgreSQL's 65 535 bind parameters per statement. */
const ROWS_PER_INSERT = 2000;

/**
 * The one sequencer of the audit chain. An append takes a transaction-scoped advisory lock that is held
 * until the surrounding transaction commits, reads the committed head and writes `head.id + 1` chained to
 * `head.hash`. So id order, commit order and chain order are one order: concurrent writers never fork the
 * chain, a rolled-back append leaves no gap (ids are not taken from a sequence), and every id at or below
 * the committed head is final — which lets readers (detector, export) follow the log with an id cursor.
 * The cost is that appends queue behind each other for as long as the appending transaction stays open.
 */
@Injectable()
export class AuditWriter implements AuditSink {
  private readonly logger = new Logger('Audit');
  /** The head this instance appended last (possibly not yet committed: the guard in `append` checks it). */
  private lastHead?: { id: bigint; hash: string };

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    private readonly checkpoints: AuditCheckpointer,
  ) {}

  async record(entry: AuditRecord): Promise<void> {
    await this.recordMany([entry]);
  }

  /**
   * Appends several entries under one lock and in as few statements as possible (e.g. one PII-read entry
   * per customer of a list). Joins the caller's transaction like `record`.
   */
  async recordMany(entries: readonly AuditRecord[]): Promise<void> {
    if (!entries.length) return;
    const rows = entries.map((entry) => this.toRow(entry));
    await this.tx.run((manager) => this.append(manager, rows));
    this.checkpoints.noteAppended(entries.length);
    for (const entry of entries) if (entry.outcome !== 'SUCCESS') this.logger.debug(`${entry.action} ${entry.outcome}`);
  }

  /**
   * Whether a DENIED entry of this request by this actor is committed (the denied-access plugin records one
   * per request). Reads the partial index of denied entries by actor over the last minutes only.
   */
  async hasDeniedEntry(requestId: string, actorId: string): Promise<boolean> {
    const rows = (await this.tx.manager().query(
      `SELECT 1 FROM audit_entry WHERE outcome = 'DENIED' AND actor_id = $2 AND occurred_at > now() - interval '15 minutes' AND request_id = $1 LIMIT 1`,
      [requestId, actorId],
    )) as unknown[];
    return rows.length > 0;
  }

  private async append(manager: EntityManager, rows: Array<Omit<AuditRow, 'id' | 'occurredAt'>>): Promise<void> {
    // Under READ COMMITTED every statement after the lock sees the previous holder's committed row.
    await manager.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCKS.append]);
    // Fast path: chain onto the head this instance wrote last, in one guarded statement; the guard (that head
    // is still the head) holds for the lock's holder unless another instance appended or ours rolled back,
    // and then the head is read and the append made the usual way. One round trip less under the lock.
    const known = this.lastHead;
    if (known && rows.length <= ROWS_PER_INSERT) {
      const prepared = this.chain(rows, known);
      const tuples = prepared.values.map((_, r) => `(${COLUMN_CASTS.map((cast, c) => `$${r * 19 + c + 3}::${cast}`).join(',')})`);
      const inserted = (await manager.query(
        `INSERT INTO audit_entry (${AUDIT_INSERT_COLUMNS})
         SELECT * FROM (VALUES ${tuples.join(',')}) AS v
          WHERE EXISTS (SELECT 1 FROM audit_entry WHERE id = $1::bigint AND hash = $2)
            AND NOT EXISTS (SELECT 1 FROM audit_entry WHERE id > $1::bigint)
         RETURNING id`,
        [known.id.toString(), known.hash, ...prepared.values.flat()],
      )) as unknown[];
      if (inserted.length === rows.length) {
        this.lastHead = prepared.head;
        return;
      }
    }
    const [head] = (await manager.query('SELECT id::text AS id, hash FROM audit_entry ORDER BY audit_entry.id DESC LIMIT 1')) as Array<{ id: string; hash: string }>;
    const prepared = this.chain(rows, { id: BigInt(head?.id ?? 0), hash: head?.hash ?? GENESIS_HASH });
    for (let start = 0; start < prepared.values.length; start += ROWS_PER_INSERT) {
      const chunk = prepared.values.slice(start, start + ROWS_PER_INSERT);
      const tuples = chunk.map((_, r) => `(${Array.from({ length: 19 }, (_, c) => `$${r * 19 + c + 1}`).join(',')})`);
      await manager.query(`INSERT INTO audit_entry (${AUDIT_INSERT_COLUMNS}) VALUES ${tuples.join(',')}`, chunk.flat());
    }
    this.lastHead = prepared.head;
  }

  /** Ids and hashes for `rows` chained after `head`; stamped now, under the lock, so time never runs backwards. */
  private chain(rows: Array<Omit<AuditRow, 'id' | 'occurredAt'>>, head: { id: bigint; hash: string }): { values: unknown[][]; head: { id: bigint; hash: string } } {
    let prevHash = head.hash;
    let id = head.id;
    const occurredAt = new Date().toISOString();
    const values = rows.map((row) => {
      id += 1n;
      const full: AuditRow = { ...row, id: id.toString(), occurredAt };
      const hash = chainHash(this.config.keys.auditChain, prevHash, full);
      const params = [
        full.id, full.occurredAt, full.actorType, full.actorId, full.role, full.partnerId, full.sessionId, full.ip,
        full.userAgent, full.requestId, full.action, full.resourceType, full.resourceId, full.customerId, full.fields,
        full.outcome, JSON.stringify(full.details), prevHash, hash,
      ];
      prevHash = hash;
      return params;
    });
    return { values, head: { id, hash: prevHash } };
  }

  private toRow(entry: AuditRecord): Omit<AuditRow, 'id' | 'occurredAt'> {
    const principal = this.context.principal;
    const actor = entry.actor ?? (principal?.kind === 'USER'
      ? { type: 'USER' as const, id: principal.userId, role: principal.role, sessionId: principal.sessionId, partnerId: null }
      : principal?.kind === 'PARTNER'
        ? { type: 'PARTNER' as const, id: principal.tokenId, role: 'PARTNER', partnerId: principal.partnerId, sessionId: null }
        : { type: this.context.requestId ? ('ANONYMOUS' as const) : ('SYSTEM' as const), id: null, role: null, partnerId: null, sessionId: null });
    return {
      actorType: actor.type,
      actorId: actor.id ?? null,
      role: actor.role ?? null,
      partnerId: uuidOrNull(actor.partnerId),
      sessionId: uuidOrNull(actor.sessionId),
      ip: this.context.ip ?? null,
      userAgent: this.context.userAgent ?? null,
      requestId: this.context.requestId ?? null,
      action: entry.action,
      resourceType: entry.resourceType ?? null,
      resourceId: entry.resourceId ?? null,
      customerId: uuidOrNull(entry.customerId),
      fields: [...(entry.fields ?? [])],
      outcome: entry.outcome,
      details: asStoredJson(entry.details ?? {}),
    };
  }
}

/** PostgreSQL prints uuids in lower case; hash the form that will be read back. */
function uuidOrNull(value: string | null | undefined): string | null {
  return value ? value.toLowerCase() : null;
}

/**
 * The details as jsonb will give them back (Dates become strings, undefined disappears), so the hash
 * computed now matches the one recomputed from the stored row.
 */
function asStoredJson(details: Record<string, unknown>): unknown {
  return JSON.parse(JSON.stringify(details)) as unknown;
}
