import { Inject, Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AuditRecord, AuditSink } from '../../common/audit/audit-sink';
import { RequestContext } from '../../common/context/request-context';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import { TransactionService } from '../../database/transaction.service';
import { CanonicalRowWriter, chainHashOf, GENESIS_HASH, type AuditRow } from './audit-chain';
import { AuditCheckpointer } from './chain/audit-checkpointer.service';
import { AUDIT_LOCKS } from './audit.settings';

const AUDIT_INSERT_COLUMNS = `id, occurred_at, actor_type, actor_id, role, partner_id, session_id, ip, user_agent,
  request_id, action, resource_type, resource_id, customer_id, fields, outcome, details, prev_hash, hash`;
/**
 * The rows travel as one JSON array bound to one parameter and are unpacked by jsonb_to_recordset with these
 * column types: the statement text is the same for 1 row and for 5 000 (PostgreSQL parses a few hundred
 * bytes, not a VALUES list of 19 casts a row, and the driver binds one value instead of thousands).
 */
const AUDIT_RECORDSET = `jsonb_to_recordset($1::jsonb) AS r(id bigint, occurred_at timestamptz, actor_type text, actor_id text,
  role text, partner_id uuid, session_id uuid, ip text, user_agent text, request_id text, action text, resource_type text,
  resource_id text, customer_id uuid, fields text[], outcome text, details jsonb, prev_hash text, hash text)`;

/** Rows per statement for very large appends (bulk imports, the volume tests): bounds one JSON document. */
const ROWS_PER_INSERT = 5000;

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
  /** Entries outside any transaction waiting for the next grouped append, and whether one is running. */
  private readonly waiting: Array<{ rows: Array<Omit<AuditRow, 'id' | 'occurredAt'>>; resolve: () => void; reject: (error: unknown) => void }> = [];
  private flushing = false;
  /** The end of the last transaction of this instance that took its turn to append (see `appendInTurn`). */
  private turn: Promise<void> = Promise.resolve();
  private readonly turnHolders = new WeakSet<EntityManager>();

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
    const context = this.contextColumns();
    const rows = entries.map((entry) => this.toRow(entry, context));
    if (this.tx.inTransaction()) await this.tx.run((manager) => this.appendInTurn(manager, rows));
    else await this.appendGrouped(rows);
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

  /**
   * Group commit for entries that belong to no transaction of their own (PII reads, denied requests, token
   * use): one append is in flight per instance; entries that arrive meanwhile wait and go together in the
   * next one — one lock, one INSERT, one COMMIT (one WAL flush) for many requests. Each caller's promise
   * still settles only once its entries are committed, so "committed before the response" holds.
   */
  private appendGrouped(rows: Array<Omit<AuditRow, 'id' | 'occurredAt'>>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ rows, resolve, reject });
      if (!this.flushing) void this.flushWaiting();
    });
  }

  private async flushWaiting(): Promise<void> {
    this.flushing = true;
    try {
      while (this.waiting.length) {
        const group = this.waiting.splice(0, this.waiting.length);
        try {
          await this.tx.runDetached((manager) => this.appendInTurn(manager, group.flatMap((g) => g.rows)));
          for (const g of group) g.resolve();
        } catch (error) {
          if (group.length === 1) {
            group[0].reject(error);
            continue;
          }
          // One caller's entries must not fail the others': append them one caller at a time.
          for (const g of group) {
            await this.tx.runDetached((manager) => this.appendInTurn(manager, g.rows)).then(g.resolve, g.reject);
          }
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * One transaction of this instance appends at a time, from its first append until it ends: then the head
   * this instance wrote last is the head when its turn comes (unless another instance appended, which the
   * guard in `append` notices), so the entries can be chained before the lock is granted and the lock and
   * the insert sent together. Waiting happens here rather than on the database lock, which still orders
   * instances. A transaction that appends again already has its turn.
   */
  private async appendInTurn(manager: EntityManager, rows: Array<Omit<AuditRow, 'id' | 'occurredAt'>>): Promise<void> {
    if (!this.turnHolders.has(manager)) {
      const previous = this.turn;
      let release!: () => void;
      this.turn = new Promise<void>((resolve) => (release = resolve));
      await previous;
      this.turnHolders.add(manager);
      this.tx.afterSettle(() => {
        this.turnHolders.delete(manager);
        release();
      });
    }
    await this.append(manager, rows);
  }

  private async append(manager: EntityManager, rows: Array<Omit<AuditRow, 'id' | 'occurredAt'>>): Promise<void> {
    const lock = 'SELECT pg_advisory_xact_lock($1)';
    // Fast path: chain onto the head this instance wrote last, in one guarded statement queued right behind
    // the lock request on the same connection, so no round trip to the app separates them while the lock is
    // held. Under READ COMMITTED the insert, which starts once the lock is granted, sees the previous
    // holder's committed rows; its guard (that head is still the head) fails only if another instance
    // appended or ours rolled back, and then the head is read and the append made the usual way.
    const known = this.lastHead;
    if (known && rows.length <= ROWS_PER_INSERT) {
      const prepared = this.chain(rows, known);
      // A count comes back rather than one id per row: 100 result rows would be parsed for nothing.
      const [, [{ inserted }]] = (await Promise.all([
        manager.query(lock, [AUDIT_LOCKS.append]),
        manager.query(
          `WITH appended AS (
             INSERT INTO audit_entry (${AUDIT_INSERT_COLUMNS})
             SELECT ${AUDIT_INSERT_COLUMNS} FROM ${AUDIT_RECORDSET}
              WHERE EXISTS (SELECT 1 FROM audit_entry WHERE id = $2::bigint AND hash = $3)
                AND NOT EXISTS (SELECT 1 FROM audit_entry WHERE id > $2::bigint)
             RETURNING 1)
           SELECT count(*)::int AS inserted FROM appended`,
          [JSON.stringify(prepared.records), known.id.toString(), known.hash],
        ),
      ])) as [unknown, Array<{ inserted: number }>];
      if (inserted === rows.length) {
        this.lastHead = prepared.head;
        return;
      }
    } else {
      await manager.query(lock, [AUDIT_LOCKS.append]);
    }
    const [head] = (await manager.query('SELECT id::text AS id, hash FROM audit_entry ORDER BY audit_entry.id DESC LIMIT 1')) as Array<{ id: string; hash: string }>;
    const prepared = this.chain(rows, { id: BigInt(head?.id ?? 0), hash: head?.hash ?? GENESIS_HASH });
    for (let start = 0; start < prepared.records.length; start += ROWS_PER_INSERT) {
      const chunk = prepared.records.slice(start, start + ROWS_PER_INSERT);
      await manager.query(`INSERT INTO audit_entry (${AUDIT_INSERT_COLUMNS}) SELECT ${AUDIT_INSERT_COLUMNS} FROM ${AUDIT_RECORDSET}`, [JSON.stringify(chunk)]);
    }
    this.lastHead = prepared.head;
  }

  /** Ids and hashes for `rows` chained after `head`; stamped now, under the lock, so time never runs backwards. */
  private chain(rows: Array<Omit<AuditRow, 'id' | 'occurredAt'>>, head: { id: bigint; hash: string }): { records: StoredRecord[]; head: { id: bigint; hash: string } } {
    let prevHash = head.hash;
    let id = head.id;
    const occurredAt = new Date().toISOString();
    const canonical = new CanonicalRowWriter();
    const key = this.config.keys.auditChain;
    const records = rows.map((row): StoredRecord => {
      id += 1n;
      const idText = id.toString();
      const hash = chainHashOf(key, prevHash, canonical.row(idText, occurredAt, row));
      const record: StoredRecord = {
        id: idText, occurred_at: occurredAt, actor_type: row.actorType, actor_id: row.actorId, role: row.role,
        partner_id: row.partnerId, session_id: row.sessionId, ip: row.ip, user_agent: row.userAgent, request_id: row.requestId,
        action: row.action, resource_type: row.resourceType, resource_id: row.resourceId, customer_id: row.customerId,
        fields: row.fields, outcome: row.outcome, details: row.details, prev_hash: prevHash, hash,
      };
      prevHash = hash;
      return record;
    });
    return { records, head: { id, hash: prevHash } };
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

  private toRow(entry: AuditRecord, context: ReturnType<AuditWriter['contextColumns']>): Omit<AuditRow, 'id' | 'occurredAt'> {
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

/** One entry as the recordset in AUDIT_RECORDSET reads it (column names as keys). */
type StoredRecord = Record<string, unknown>;

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
