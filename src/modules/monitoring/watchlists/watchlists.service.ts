import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { BadUserInputError, ConflictError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { decodeCursor, encodeCursor, pageSize } from '../../../common/pagination/cursor';
import { TransactionService } from '../../../database/transaction.service';
import { RuleEngine } from '../rules/rule-engine.service';
import { assertNoEntryErrors, decodeEntryCursor, encodeEntryCursor, MAX_ENTRIES_PER_CALL, normalizeEntries } from './watchlist-entries';
import type { CreateWatchlistInput, UpdateWatchlistEntriesInput, WatchlistEntryModel, WatchlistModel } from './watchlist.model';

interface WatchlistRow {
  id: string;
  code: string;
  name: string;
  entry_count: number;
  created_at: Date;
  updated_at: Date;
}

const CODE = /^[A-Z][A-Z0-9_]{1,63}$/;
const SELECT = `SELECT w.id, w.code, w.name, w.created_at, w.updated_at,
                       (SELECT count(*)::int FROM watchlist_entry e WHERE e.watchlist_id = w.id) AS entry_count
                  FROM watchlist w`;

/*
 * The rule engine caches watchlist entries behind a stamp that includes max(watchlist.updated_at), which
 * other instances re-check every second. That stamp must move on every committed change, so writes are
 * serialised by one transaction-scoped advisory lock and each takes a timestamp strictly above every one
 * already committed: a change committing late with an earlier clock can then never hide behind a newer one.
 */
const WRITE_LOCK = `SELECT pg_advisory_xact_lock(hashtextextended('custos.watchlist', 0))`;
const NEXT_STAMP = `greatest(clock_timestamp(), (SELECT max(updated_at) FROM watchlist) + interval '1 millisecond')`;

const toModel = (r: WatchlistRow): WatchlistModel => ({
  id: r.id,
  code: r.code,
  name: r.name,
  entryCount: r.entry_count,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * Watchlists that rule conditions read (`{"list": "SANCTIONED_COUNTERPARTIES"}`): created with their first
 * entries, then changed by adding and removing values. Every change moves `updated_at` (the rule engine's
 * cache stamp) and is audited with counts — the values themselves are not repeated into the audit log.
 */
@Injectable()
export class WatchlistsService {
  constructor(
    private readonly tx: TransactionService,
    private readonly engine: RuleEngine,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  async list(page: PageArgs): Promise<ConnectionShape<WatchlistModel>> {
    const limit = pageSize(page);
    const params: unknown[] = [];
    let where = 'TRUE';
    if (page.after) {
      const [code] = decodeCursor(page.after, ['text']);
      where = `w.code > $${params.push(code)}`;
    }
    const manager = this.tx.manager();
    const [rows, [{ total }]] = await Promise.all([
      manager.query(`${SELECT} WHERE ${where} ORDER BY w.code LIMIT $${params.push(limit + 1)}`, params) as Promise<WatchlistRow[]>,
      manager.query(`SELECT count(*)::int AS total FROM watchlist`) as Promise<Array<{ total: number }>>,
    ]);
    const nodes = rows.slice(0, limit).map(toModel);
    const last = nodes[nodes.length - 1];
    return { nodes, totalCount: total, pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? encodeCursor([last.code]) : null } };
  }

  async get(code: string): Promise<WatchlistModel> {
    if (!CODE.test(code)) throw BadUserInputError.field('code', 'must be UPPER_SNAKE_CASE, 2–64 characters');
    const [row] = (await this.tx.manager().query(`${SELECT} WHERE w.code = $1`, [code])) as WatchlistRow[];
    if (!row) throw new NotFoundError('Watchlist');
    return toModel(row);
  }

  /**
   * The same page of entries (value order) for several watchlists in one statement; `totalCount` is the
   * parent's `entryCount`, filled in by the caller.
   */
  async entryPages(watchlistIds: readonly string[], page: PageArgs): Promise<Map<string, Omit<ConnectionShape<WatchlistEntryModel>, 'totalCount'>>> {
    const limit = pageSize(page);
    const manager = this.tx.manager();
    const boundary = page.after ? await this.entryBoundary(manager, watchlistIds, page.after) : null;
    const params: unknown[] = [watchlistIds];
    const after = boundary === null ? '' : `AND e.value > $${params.push(boundary)}`;
    const rows = (await manager.query(
      `SELECT w.id AS watchlist_id, e.value
         FROM unnest($1::uuid[]) AS w(id)
         CROSS JOIN LATERAL (
           SELECT e.value FROM watchlist_entry e WHERE e.watchlist_id = w.id ${after} ORDER BY e.value LIMIT $${params.push(limit + 1)}
         ) e`,
      params,
    )) as Array<{ watchlist_id: string; value: string }>;
    const grouped = new Map<string, string[]>(watchlistIds.map((id) => [id, []]));
    for (const row of rows) grouped.get(row.watchlist_id)?.push(row.value);
    const result = new Map<string, Omit<ConnectionShape<WatchlistEntryModel>, 'totalCount'>>();
    for (const [id, values] of grouped) {
      const nodes = values.slice(0, limit).map((value) => ({ value }));
      const last = nodes[nodes.length - 1];
      result.set(id, { nodes, pageInfo: { hasNextPage: values.length > limit, endCursor: last ? encodeEntryCursor(last.value) : null } });
    }
    return result;
  }

  /** The last value a cursor stands for: itself, or the entry its prefix and digest identify. */
  private async entryBoundary(manager: EntityManager, watchlistIds: readonly string[], after: string): Promise<string> {
    const { head, digest } = decodeEntryCursor(after);
    if (!digest) return head;
    const [found] = (await manager.query(
      `SELECT value FROM watchlist_entry
        WHERE watchlist_id = ANY($1::uuid[]) AND starts_with(value, $2) AND encode(sha256(convert_to(value, 'UTF8')), 'hex') = $3
        LIMIT 1`,
      [watchlistIds, head, digest],
    )) as Array<{ value: string }>;
    // Removed since the page was read: continue after its prefix (entries sharing it may repeat).
    return found?.value ?? head;
  }

  async create(input: CreateWatchlistInput): Promise<WatchlistModel> {
    const { values, errors } = normalizeEntries(input.entries, 'entries');
    assertNoEntryErrors(errors);
    const result = await this.tx.run(async (manager) => {
      await manager.query(WRITE_LOCK);
      const [created] = (await manager.query(
        `INSERT INTO watchlist (code, name, created_at, updated_at)
         SELECT $1, $2, s.at, s.at FROM (SELECT ${NEXT_STAMP} AS at) s
         ON CONFLICT (code) DO NOTHING RETURNING id`,
        [input.code, input.name],
      )) as Array<{ id: string }>;
      if (!created) throw new ConflictError(`Watchlist ${input.code} exists: change its entries with updateWatchlistEntries`, { field: 'code' });
      const added = await this.addEntries(manager, created.id, values);
      const row = await this.row(manager, created.id);
      await this.audit.record({
        action: 'watchlist.create',
        outcome: 'SUCCESS',
        resourceType: 'Watchlist',
        resourceId: row.id,
        details: { code: row.code, entries: added, entryCount: row.entry_count },
      });
      return toModel(row);
    });
    this.engine.invalidate();
    return result;
  }

  async updateEntries(input: UpdateWatchlistEntriesInput): Promise<WatchlistModel> {
    const add = normalizeEntries(input.add, 'add');
    const remove = normalizeEntries(input.remove, 'remove');
    assertNoEntryErrors([...add.errors, ...remove.errors]);
    if (!add.values.length && !remove.values.length) throw BadUserInputError.field('add', 'or remove must name at least one entry');
    if ((input.add?.length ?? 0) + (input.remove?.length ?? 0) > MAX_ENTRIES_PER_CALL) {
      throw BadUserInputError.field('add', `and remove together must hold at most ${MAX_ENTRIES_PER_CALL} entries`);
    }
    const removing = new Set(remove.values);
    const both = add.values.filter((v) => removing.has(v));
    if (both.length) throw BadUserInputError.field('remove', `must not repeat a value of add (${both.length} do)`);

    const result = await this.tx.run(async (manager) => {
      await manager.query(WRITE_LOCK);
      const [list] = (await manager.query(`SELECT id FROM watchlist WHERE code = $1`, [input.code])) as Array<{ id: string }>;
      if (!list) throw new NotFoundError('Watchlist');
      const removed = remove.values.length
        ? ((await manager.query(
            `WITH gone AS (DELETE FROM watchlist_entry WHERE watchlist_id = $1 AND value = ANY($2::text[]) RETURNING 1) SELECT count(*)::int AS n FROM gone`,
            [list.id, remove.values],
          )) as Array<{ n: number }>)[0].n
        : 0;
      const added = await this.addEntries(manager, list.id, add.values);
      await manager.query(`UPDATE watchlist SET updated_at = ${NEXT_STAMP} WHERE id = $1`, [list.id]);
      const row = await this.row(manager, list.id);
      await this.audit.record({
        action: 'watchlist.update',
        outcome: 'SUCCESS',
        resourceType: 'Watchlist',
        resourceId: row.id,
        details: { code: row.code, requestedAdd: add.values.length, requestedRemove: remove.values.length, added, removed, entryCount: row.entry_count },
      });
      return toModel(row);
    });
    this.engine.invalidate();
    return result;
  }

  /** Inserts the values not yet on the list; returns how many were new. */
  private async addEntries(manager: EntityManager, watchlistId: string, values: string[]): Promise<number> {
    if (!values.length) return 0;
    const [{ n }] = (await manager.query(
      `WITH added AS (
         INSERT INTO watchlist_entry (watchlist_id, value) SELECT $1, v FROM unnest($2::text[]) AS v
         ON CONFLICT DO NOTHING RETURNING 1
       ) SELECT count(*)::int AS n FROM added`,
      [watchlistId, values],
    )) as Array<{ n: number }>;
    return n;
  }

  private async row(manager: EntityManager, id: string): Promise<WatchlistRow> {
    const [row] = (await manager.query(`${SELECT} WHERE w.id = $1`, [id])) as WatchlistRow[];
    return row;
  }
}
