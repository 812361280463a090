import type { Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AppConfig } from '../../config/config';
import type { TransactionService } from '../../database/transaction.service';
import { CanonicalRowWriter, chainHashOf, GENESIS_HASH } from './audit-chain';
import {
  AUDIT_CHAINED_SOURCE, AUDIT_CHAINED_VALUES, AUDIT_DATA_COLUMNS, AUDIT_INSERT_COLUMNS, chainedParameters, pendingColumns, storedRecord,
  type EntryColumns, type PendingDbRow, type StoredRecord,
} from './audit-entry-rows';
import type { AuditCheckpointer } from './chain/audit-checkpointer.service';
import { AUDIT_LOCKS } from './audit.settings';

/** The chain lock, held by one sequencer transaction at a time across instances. */
const CHAIN_LOCK = 'SELECT pg_advisory_xact_lock($1)';
/** Rows per statement for very large appends (bulk imports, the volume tests): bounds one JSON document. */
const ROWS_PER_INSERT = 5000;
/** Pending entries chained per sequencer transaction. */
const PENDING_PER_TAKE = 5000;
/**
 * After the one-statement chaining of staged entries was refused, groups with staged entries take the locked
 * path for this long. Under load it is refused most of the time — another transaction has committed while
 * this process had not yet read its reply — and each refusal is a wasted round trip; alone, or nearly, it
 * saves the locked path's second round trip and holds the lock for one statement only.
 */
const STAGED_FAST_PATH_BACKOFF_MS = 1000;
/** Seqs remembered as chained by this instance's takes, at most (past it they are forgotten: an extra take, no harm). */
const TAKEN_SEQS_REMEMBERED = 100_000;

/** The entries one transaction of this instance staged: each one's columns and the seq its pending row was given. */
export interface StagedEntries {
  entries: Array<{ seq: string; row: EntryColumns }>;
  /** The pending inserts, sent with the commit: their seqs are known once these settle. */
  inserts: Array<Promise<void>>;
  /** Set when an insert committed but its seqs could not be read: chain by reading the pending table. */
  seqsUnknown?: boolean;
}

/** Orders pending seqs (bigint as text) numerically. */
export function bySeq(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Callers waiting for the sequencer: entries to append now, or committed entries to chain — a transaction's
 * own (`staged`: this instance wrote them and can chain them without reading them back) or whatever is pending.
 */
type Waiter =
  | { kind: 'append'; rows: EntryColumns[]; resolve: () => void; reject: (error: unknown) => void }
  | { kind: 'chainPending'; staged?: StagedEntries; resolve: () => void };

/**
 * The sequencer of one instance (owned by AuditWriter): it runs one transaction at a time and takes a
 * transaction-scoped advisory lock across instances; under it, it moves the committed pending entries
 * (oldest first) and the grouped direct appends into `audit_entry` as `head.id + 1…`, each chained to the
 * one before. A fast path chains what this instance holds onto the head it wrote last in one statement
 * that is its own transaction, guarded against a head that moved; the locked path reads the real head, and
 * refuses to chain over entries it saw committed that have since been removed.
 */
export class AuditSequencer {
  /**
   * The committed head as this instance last knew it: the head it appended last, or read under the lock. Set
   * only once that transaction has committed. The fast path's guard checks it is still the head; the locked
   * path checks that the head has only grown from it (see `continueFrom`).
   */
  private lastHead?: { id: bigint; hash: string };
  /** Set when the fast path was refused: the next group takes the locked path directly. */
  private skipFastPath = false;
  /** Until when groups with staged entries take the locked path directly (STAGED_FAST_PATH_BACKOFF_MS). */
  private stagedFastPathAfter = 0;
  private readonly waiting: Waiter[] = [];
  /** The sequencer transaction in flight, if any. */
  private flushing?: Promise<void>;
  /**
   * Pending seqs a committed take of this instance chained before their own transaction asked for it: a take
   * chains every committed entry, so under load it often carries entries of transactions that commit while it
   * runs; their callers then need no take of their own.
   */
  private readonly takenSeqs = new Set<string>();

  constructor(
    private readonly config: AppConfig,
    private readonly tx: TransactionService,
    private readonly checkpoints: AuditCheckpointer,
    private readonly logger: Logger,
  ) {}

  /** Resolves once no sequencer transaction of this instance is in flight. */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /**
   * Chains every committed pending entry — with `staged`, a committed transaction of this instance that
   * names what it staged; resolves once those committed before the call are in the log. Never rejects.
   */
  chainCommitted(staged?: StagedEntries): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiting.push({ kind: 'chainPending', staged, resolve });
      this.startFlushing();
    });
  }

  /**
   * Entries that belong to no transaction: one sequencer transaction is in flight per instance; entries that
   * arrive meanwhile wait and go together in the next one — one lock, one INSERT, one COMMIT (one WAL flush)
   * for many requests. Each caller's promise settles only once its entries are committed, so "committed
   * before the response" holds.
   */
  append(rows: EntryColumns[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ kind: 'append', rows, resolve, reject });
      this.startFlushing();
    });
  }

  private startFlushing(): void {
    if (this.flushing) return;
    this.flushing = this.flushWaiting().finally(() => (this.flushing = undefined));
  }

  private async flushWaiting(): Promise<void> {
    while (this.waiting.length) {
      const group = this.waiting.splice(0, this.waiting.length).filter((w) => {
        if (w.kind !== 'chainPending' || !w.staged || !this.alreadyTaken(w.staged)) return true;
        w.resolve();
        return false;
      });
      if (!group.length) continue;
      const appends = group.filter((w) => w.kind === 'append');
      const chainers = group.filter((w) => w.kind === 'chainPending');
      try {
        const rows = appends.flatMap((w) => w.rows);
        // The fast path needs every entry in hand: a group asking for whatever is pending (the sweep) takes
        // the locked path. After a refused fast path (another instance wrote, or entries this group does not
        // hold were pending) the next group goes straight to the locked path, which reads the real head: no
        // second refusal in a row; groups with staged entries keep to it for a while longer.
        const staged = chainers.map((w) => w.staged);
        const eligible = !this.skipFastPath && staged.every((s) => s !== undefined) && (!staged.length || Date.now() >= this.stagedFastPathAfter);
        const fast = eligible ? await this.appendOntoKnownHead(rows, staged as StagedEntries[]) : 'skipped';
        this.skipFastPath = fast === 'refused';
        if (fast === 'refused' && staged.length) this.stagedFastPathAfter = Date.now() + STAGED_FAST_PATH_BACKOFF_MS;
        if (fast === 'appended') {
          for (const w of appends) w.resolve();
          for (const w of chainers) w.resolve();
          continue;
        }
        const attempted = typeof fast === 'object' ? fast.attempted : undefined;
        const { drained, chained, alreadyAppended, taken, head } = await this.tx.runDetached((manager) => this.sequence(manager, rows, attempted));
        this.lastHead = head;
        this.checkpoints.noteAppended(chained);
        // This group's own callers are answered now when drained: only the others' seqs are worth keeping.
        const own = drained ? new Set(chainers.flatMap((w) => w.staged?.entries.map((e) => e.seq) ?? [])) : undefined;
        this.rememberTaken(own ? taken.filter((seq) => !own.has(seq)) : taken);
        if (drained || alreadyAppended) for (const w of appends) w.resolve();
        if (drained) {
          for (const w of chainers) w.resolve();
        } else {
          // More pending entries than one take: the rest were committed before the grouped appends, so
          // those go after them, in the next transaction, with the callers waiting for their entries.
          this.waiting.unshift(...(alreadyAppended ? [] : appends), ...chainers);
        }
      } catch (error) {
        if (chainers.length) this.logger.error(`chaining committed audit entries failed (left pending for the next run): ${(error as Error).message}`);
        for (const w of chainers) w.resolve();
        if (appends.length === 1 && !chainers.length) {
          appends[0].reject(error);
          continue;
        }
        // One caller's entries must not fail the others': append them one caller at a time.
        for (const w of appends) await this.appendOneCaller(w.rows).then(w.resolve, w.reject);
      }
    }
  }

  /** One caller's grouped entries, in as many sequencer transactions as a pending backlog takes first. */
  private async appendOneCaller(rows: EntryColumns[]): Promise<void> {
    for (;;) {
      const { drained, chained, taken, head } = await this.tx.runDetached((manager) => this.sequence(manager, rows));
      this.lastHead = head;
      this.checkpoints.noteAppended(chained);
      this.rememberTaken(taken);
      if (drained) return;
    }
  }

  /**
   * One sequencer transaction: under the chain lock, takes the committed pending entries and chains them,
   * oldest first, then — once none are left — the grouped entries, after the committed head (see
   * `continueFrom`). Returns the head it leaves, for the caller to remember once the transaction has committed.
   */
  private async sequence(
    manager: EntityManager,
    rows: EntryColumns[],
    attempted?: { id: bigint; hash: string },
  ): Promise<{ drained: boolean; chained: number; alreadyAppended: boolean; taken: string[]; head: { id: bigint; hash: string } }> {
    // A fast-path call that failed on our side may still have committed (the connection dropped after the
    // server ran it). Under the lock that is settled: if the head it would have left exists, these rows are
    // in the log already and must not be chained twice. (The hash is keyed and covers the time stamp.)
    let alreadyAppended = false;
    if (attempted !== undefined) {
      await manager.query(CHAIN_LOCK, [AUDIT_LOCKS.append]);
      alreadyAppended = ((await manager.query(`SELECT 1 FROM audit_entry WHERE id = $1 AND hash = $2`, [attempted.id.toString(), attempted.hash])) as unknown[]).length > 0;
      if (alreadyAppended) rows = [];
    }
    // After the lock, in a statement of its own: under READ COMMITTED its snapshot then includes the previous
    // holder's commit, so it neither re-takes entries already chained nor misses the head they moved. (The
    // lock and the take go out together, in one round trip, each still a statement of its own.)
    // A transaction's entries stay together (rows it wrote share xmin), in the order of its first entry.
    // Whole transactions only: those of the oldest PENDING_PER_TAKE entries, every entry of each (a take may
    // so exceed the bound), so no transaction's entries are ever split across two takes.
    // The take only reads: the rows leave the pending table when `audit_chain_pending` moves them into the
    // log at commit, so the application role needs no DELETE there (docs/AUDIT.md).
    const take = {
      text: `WITH oldest AS (SELECT DISTINCT xmin::text AS tx FROM (SELECT xmin FROM audit_entry_pending ORDER BY seq LIMIT $1) o),
       taken AS (
         SELECT min(p.seq) OVER (PARTITION BY p.xmin::text) AS first_of_transaction, p.seq, ${AUDIT_DATA_COLUMNS.replace(/(\w+)/g, 'p.$1')}
           FROM audit_entry_pending p WHERE p.xmin::text IN (SELECT tx FROM oldest)),
       head AS (SELECT id, hash FROM audit_entry ORDER BY id DESC LIMIT 1)
       SELECT h.id::text AS head_id, h.hash AS head_hash, (SELECT count(*)::int FROM audit_entry_pending) AS pending_before,
              (SELECT r.hash FROM audit_entry r WHERE r.id = $2) AS remembered_hash, t.*
         FROM (SELECT 1) AS one LEFT JOIN head h ON true LEFT JOIN taken t ON true
        ORDER BY t.first_of_transaction, t.seq`,
      // A parameter, not a literal: a parameterised statement is prepared once per connection, not planned per take.
      values: [PENDING_PER_TAKE, this.lastHead?.id.toString() ?? null],
    };
    const statements = attempted !== undefined ? [take] : [{ text: CHAIN_LOCK, values: [AUDIT_LOCKS.append] }, take];
    const taken = (await this.tx.pipeline(manager, statements))[statements.length - 1] as unknown as Array<
      PendingDbRow & { head_id: string | null; head_hash: string | null; pending_before: number; remembered_hash: string | null; seq: string | null }
    >;
    const committed = { id: BigInt(taken[0].head_id ?? 0), hash: taken[0].head_hash ?? GENESIS_HASH };
    const head = this.continueFrom(committed, taken[0].remembered_hash);
    const pending = taken.filter((t) => t.seq !== null);
    // The statement's snapshot (taken after the lock) holds every entry committed before the take: when some
    // are left, the grouped appends wait for the next take, so nothing jumps ahead of a committed entry.
    const drained = pending.length === taken[0].pending_before;
    const prepared = this.chain(drained ? [...pending.map(pendingColumns), ...rows] : pending.map(pendingColumns), head);
    if (head !== committed && prepared.records.length) {
      const remembered = this.lastHead!;
      this.logger.error(
        { auditChain: { remembered: { id: remembered.id.toString(), hash: remembered.hash }, committed: { id: committed.id.toString(), hash: committed.hash } } },
        `audit chain head ${committed.id} did not grow from the remembered head ${remembered.id}: entries were removed; chaining after the remembered head, so verification reports the break`,
      );
    }
    await this.insertChained(manager, prepared.records, pending.map((p) => p.seq!));
    return { drained, chained: prepared.records.length, alreadyAppended, taken: pending.map((p) => p.seq!), head: prepared.head };
  }

  /**
   * Where the locked path chains on: the committed head, unless it did not grow from the head this instance
   * remembers. Heads only grow: a head below the remembered one, one at its id with another hash, or one past
   * it whose row at the remembered id now holds another hash means entries this instance saw committed were
   * removed (a superuser cutting the tail before the next checkpoint, say, and the chain perhaps regrown over
   * them). Chaining on from the committed head would reuse their ids and hide the cut for good. So the new
   * entries go after the remembered head instead — ids continue past it and the first one's `prev_hash` is its
   * hash — and verification finds the gap (`MISSING_ENTRY` at the first removed id) or the link
   * (`PREV_HASH_MISMATCH`). A row missing below a head that grew past the remembered one is left to
   * verification: it may be an archived segment.
   */
  private continueFrom(committed: { id: bigint; hash: string }, rememberedHashInLog: string | null): { id: bigint; hash: string } {
    const remembered = this.lastHead;
    if (!remembered) return committed;
    const grew = committed.id > remembered.id
      ? rememberedHashInLog === null || rememberedHashInLog === remembered.hash
      : committed.id === remembered.id && committed.hash === remembered.hash;
    if (grew) return committed;
    return { id: committed.id > remembered.id ? committed.id : remembered.id, hash: remembered.hash };
  }

  /** After a take committed: its seqs, for the transactions of this instance that have not asked yet. */
  private rememberTaken(seqs: readonly string[]): void {
    if (this.takenSeqs.size + seqs.length > TAKEN_SEQS_REMEMBERED) this.takenSeqs.clear();
    for (const seq of seqs) this.takenSeqs.add(seq);
  }

  /** Whether a committed take chained all of these staged entries (a take moves whole transactions); forgets them. */
  private alreadyTaken(staged: StagedEntries): boolean {
    if (!staged.entries.every(({ seq }) => this.takenSeqs.has(seq))) return false;
    for (const { seq } of staged.entries) this.takenSeqs.delete(seq);
    return true;
  }

  /**
   * Fast path for grouped entries and for the committed entries of this instance's own transactions (`staged`):
   * chain them onto the head this instance wrote last and write them in one statement of its own transaction
   * — `audit_append_onto_head` for appends alone, `audit_chain_pending_onto_head` when staged entries come
   * along (it moves exactly their pending rows into the log, their content copied from the table): the chain
   * lock, the guard, the writes, the commit — so no transaction holds the lock while this process is busy
   * between round trips. Staged entries go first, one transaction's after another's by their first seq and
   * each transaction's in seq order, as the locked path orders them. The guard (that head is still the head,
   * and no committed entry this group does not hold is pending) fails only if another instance appended,
   * ours rolled back, or such an entry is pending; then nothing was written and the caller takes the locked
   * path. The hashes are computed before the lock.
   */
  private async appendOntoKnownHead(
    rows: EntryColumns[],
    staged: StagedEntries[],
  ): Promise<'appended' | 'refused' | 'skipped' | { attempted: { id: bigint; hash: string } }> {
    const known = this.lastHead;
    const transactions = staged.filter((s) => s.entries.length).map((s) => [...s.entries].sort((a, b) => bySeq(a.seq, b.seq)));
    if (transactions.length > 1) transactions.sort((a, b) => bySeq(a[0].seq, b[0].seq));
    const moving = transactions.flat();
    const all = moving.length ? [...moving.map((e) => e.row), ...rows] : rows;
    if (!known || !all.length || all.length > ROWS_PER_INSERT) return 'skipped';
    const prepared = this.chain(all, known);
    let appended: number;
    try {
      if (moving.length) {
        const moved = prepared.records.slice(0, moving.length);
        const rest = prepared.records.slice(moving.length);
        const [entries, shared] = rest.length ? chainedParameters(rest) : ['[]', '{}'];
        [{ appended }] = (await this.tx.outsideTransaction().query(
          `SELECT audit_chain_pending_onto_head($1, $2, $3, $4::bigint[], $5::bigint[], $6::text[], $7::timestamptz, $8::jsonb, $9::jsonb) AS appended`,
          [AUDIT_LOCKS.append, known.id.toString(), known.hash, moving.map((e) => e.seq), moved.map((r) => r.id), moved.map((r) => r.hash), moved[0].occurred_at, entries, shared],
        )) as Array<{ appended: number }>;
      } else {
        const [entries, shared, headHash] = chainedParameters(prepared.records);
        [{ appended }] = (await this.tx.outsideTransaction().query(`SELECT audit_append_onto_head($1, $2, $3, $4::jsonb, $5::jsonb) AS appended`, [
          AUDIT_LOCKS.append, known.id.toString(), headHash, entries, shared,
        ])) as Array<{ appended: number }>;
      }
    } catch (error) {
      // Usually nothing was committed (the statement is its own transaction), but a lost reply can hide a
      // commit: the locked path checks for the head this call would have left before chaining again.
      this.logger.warn(`fast audit append failed, retrying under the lock: ${(error as Error).message}`);
      return { attempted: prepared.head };
    }
    if (appended !== all.length) return 'refused';
    this.lastHead = prepared.head;
    this.checkpoints.noteAppended(all.length);
    return 'appended';
  }

  /**
   * The chained rows: the first `seqs.length` are the taken pending entries, moved by `audit_chain_pending`
   * (content copied from their pending rows, `seqs[i]` as `records[i]`), the rest grouped appends. Up to one
   * statement's worth of appends, both are held and sent with the COMMIT, so the lock is held one round trip less.
   */
  private async insertChained(manager: EntityManager, records: StoredRecord[], seqs: readonly string[]): Promise<void> {
    const moved = records.slice(0, seqs.length);
    const appended = records.slice(seqs.length);
    const statements: Array<{ text: string; values: unknown[] }> = [];
    if (moved.length) {
      statements.push({
        text: `SELECT audit_chain_pending($1::bigint[], $2::bigint[], $3::text[], $4, $5::timestamptz)`,
        values: [seqs, moved.map((r) => r.id), moved.map((r) => r.hash), moved[0].prev_hash, moved[0].occurred_at],
      });
    }
    const insert = `INSERT INTO audit_entry (${AUDIT_INSERT_COLUMNS}) SELECT ${AUDIT_CHAINED_VALUES} FROM ${AUDIT_CHAINED_SOURCE}`;
    for (let start = 0; start < appended.length; start += ROWS_PER_INSERT) {
      statements.push({ text: insert, values: chainedParameters(appended.slice(start, start + ROWS_PER_INSERT)) });
    }
    // Held, they go out in this order with the COMMIT; a very large group runs now, statement by statement.
    const hold = appended.length <= ROWS_PER_INSERT;
    for (const { text, values } of statements) {
      if (hold) await this.tx.atCommit(manager, text, values);
      else await manager.query(text, values);
    }
  }

  /**
   * Ids and hashes for `rows` chained after `head`, all stamped now, under the lock — pending entries too —
   * so time never runs backwards along the chain (the export's keyset and the anchors rely on it).
   */
  private chain(rows: EntryColumns[], head: { id: bigint; hash: string }): { records: StoredRecord[]; head: { id: bigint; hash: string } } {
    let prevHash = head.hash;
    let id = head.id;
    const occurredAt = new Date().toISOString();
    const canonical = new CanonicalRowWriter();
    const key = this.config.keys.auditChain;
    const records = rows.map((row): StoredRecord => {
      id += 1n;
      const idText = id.toString();
      const hash = chainHashOf(key, prevHash, canonical.row(idText, occurredAt, row));
      const record = storedRecord(row, occurredAt);
      record.id = idText;
      record.prev_hash = prevHash;
      record.hash = hash;
      prevHash = hash;
      return record;
    });
    return { records, head: { id, hash: prevHash } };
  }
}
