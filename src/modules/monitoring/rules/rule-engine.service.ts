import { Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { TransactionService } from '../../../database/transaction.service';
import type { CustomerSnapshot } from '../../customers/customers.service';
import type { RuleModel } from '../models/rule.model';
import type { RuleAction, RuleMode, Severity } from '../models/monitoring.enums';
import { combineAggregateQueries } from './condition/aggregate-batch-sql';
import { buildAggregateQuery, readAggregateRow, readLastActivity } from './condition/aggregate-sql';
import { compileCondition } from './condition/compile-condition';
import type { CompiledCondition } from './condition/condition.types';
import { MAX_DEDUP_WINDOW_MS, parseDuration } from './condition/duration';
import { toRuleModel, type RuleRow } from './rule-row';

export interface ActiveRule {
  id: string;
  code: string;
  version: number;
  severity: Severity;
  actions: RuleAction[];
  mode: RuleMode;
  dedupWindowMs: number;
  eventTypes: ReadonlySet<string>;
  compiled: CompiledCondition;
  model: RuleModel;
}

/** How long another instance's rule change may take to be seen here (the cache re-checks its stamp). */
const STAMP_TTL_MS = 1000;
const DAY_MS = 86_400_000;

export interface ScreenedEvent {
  id: string;
  customerId: string;
  type: string;
  occurredAt: Date;
  amount?: string | null;
  currency?: string | null;
  channel?: string | null;
  country?: string | null;
  deviceId?: string | null;
  ipAddress?: string | null;
  counterpartyRef?: string | null;
  flags: string[];
  attributes?: Record<string, unknown> | null;
}

/** One event of a batch to evaluate: stored already; `laterIds` are its customer's events screened after it. */
export interface BatchEvaluation {
  event: ScreenedEvent;
  customer: CustomerSnapshot;
  laterIds: readonly string[];
}

/** Customer columns a rule reads (CustomerSnapshot's), for `prepareEvaluation`. */
export type RuleCustomer = Pick<
  CustomerSnapshot,
  'id' | 'riskLevel' | 'riskScore' | 'status' | 'transactionLimit' | 'dailyLimit' | 'verificationLevel' | 'creditLevel' | 'createdAt'
>;

/**
 * One stored event's evaluation up to the SQL: the rules of its type, their verdicts before aggregates
 * (`CompiledCondition.decide`), and the statement computing what the undecided ones read — their aggregates,
 * and the customer's last activity when one reads `daysSinceLastActivity` — or null when none is open.
 * A 50 € transfer is no large-amount rule's business whatever the customer's history, so its aggregates are
 * not computed. `excludeIds`: stored events its windows must not see (in a batch, the same customer's later
 * events of the call). The bench's baseline builds its per-event SQL with this too.
 */
export function prepareEvaluation(
  rules: readonly ActiveRule[],
  event: ScreenedEvent,
  customer: RuleCustomer,
  list: (code: string) => ReadonlySet<string>,
  excludeIds?: readonly string[],
) {
  const applicable = rules.filter((r) => r.eventTypes.has(event.type));
  const eventView = {
    type: event.type, occurredAt: event.occurredAt, amount: event.amount ?? null, currency: event.currency ?? null, channel: event.channel ?? null,
    country: event.country ?? null, deviceId: event.deviceId ?? null, ipAddress: event.ipAddress ?? null, counterpartyRef: event.counterpartyRef ?? null,
    flags: event.flags, attributes: event.attributes ?? {},
  };
  const customerView: Record<string, unknown> = {
    riskLevel: customer.riskLevel, riskScore: customer.riskScore, status: customer.status, transactionLimit: customer.transactionLimit,
    dailyLimit: customer.dailyLimit, verificationLevel: customer.verificationLevel, creditLevel: customer.creditLevel,
    accountAgeDays: (event.occurredAt.getTime() - customer.createdAt.getTime()) / DAY_MS,
  };
  const preview = { event: eventView, customer: customerView, list };
  const verdicts = applicable.map((r) => r.compiled.decide(preview));
  const undecided = applicable.filter((_, i) => verdicts[i] === undefined);
  const lastActivity = undecided.some((r) => r.compiled.customerAttributes.includes('daysSinceLastActivity'));
  const built = undecided.length
    ? buildAggregateQuery(undecided.flatMap((r) => r.compiled.aggregates), {
        customerId: customer.id, occurredAt: event.occurredAt.toISOString(), event: eventView, customer: customerView, list,
        lastActivityExcluding: lastActivity ? event.id : undefined, excludeIds,
      })
    : null;
  return { applicable, verdicts, eventView, customerView, query: built };
}

/**
 * Evaluates the active rules against the stored events of a batch. Rules are compiled once per version and
 * cached; all aggregates the applicable rules need, for every event of the batch, are computed in one
 * indexed SQL statement.
 */
@Injectable()
export class RuleEngine {
  private cache?: { stamp: string; checkedAt: number; rules: ActiveRule[]; lists: Map<string, ReadonlySet<string>> };

  private readonly logger = new Logger('RuleEngine');

  constructor(private readonly tx: TransactionService) {}

  invalidate(): void {
    this.cache = undefined;
  }

  private async active(manager: EntityManager): Promise<NonNullable<RuleEngine['cache']>> {
    const now = Date.now();
    if (this.cache && now - this.cache.checkedAt < STAMP_TTL_MS) return this.cache;
    const [{ stamp }] = (await manager.query(
      // Active versions are never edited in place, so their ids alone say which rules run. A count and the
      // newest updated_at did not: a version activated in another's place by a transaction that started
      // before the newest activation committed moved neither, and other instances kept the retired one.
      `SELECT (SELECT coalesce(md5(string_agg(id::text, ',' ORDER BY id)), '') FROM rule WHERE status = 'ACTIVE')
              || '|' || (SELECT coalesce(max(updated_at)::text, '') FROM watchlist) AS stamp`,
    )) as Array<{ stamp: string }>;
    if (this.cache && this.cache.stamp === stamp) {
      this.cache.checkedAt = now;
      return this.cache;
    }
    const rows = (await manager.query(`SELECT * FROM rule WHERE status = 'ACTIVE' ORDER BY code`)) as RuleRow[];
    const rules = rows.flatMap((r): ActiveRule[] => {
      let compiled: CompiledCondition;
      try {
        compiled = compileCondition(r.condition);
      } catch (error) {
        // A stored condition the language no longer accepts (saved under looser checks, or edited in the
        // database): that rule cannot run, but it must not stop every other rule, and every ingest call, too.
        this.logger.error(`rule ${r.code} v${r.version} (${r.id}) is not run: its condition does not compile (${(error as Error).message})`);
        return [];
      }
      return [{
        id: r.id, code: r.code, version: r.version, severity: r.severity, actions: r.actions, mode: r.mode,
        dedupWindowMs: Math.min(parseDuration(r.dedup_window) ?? DAY_MS, MAX_DEDUP_WINDOW_MS), eventTypes: new Set(r.event_types),
        compiled, model: toRuleModel(r),
      }];
    });
    const codes = [...new Set(rules.flatMap((r) => r.compiled.lists))];
    const entries = codes.length
      ? ((await manager.query(`SELECT w.code, e.value FROM watchlist w JOIN watchlist_entry e ON e.watchlist_id = w.id WHERE w.code = ANY($1)`, [codes])) as Array<{ code: string; value: string }>)
      : [];
    const lists = new Map<string, Set<string>>(codes.map((c) => [c, new Set<string>()]));
    for (const e of entries) lists.get(e.code)!.add(e.value);
    this.cache = { stamp, checkedAt: now, rules, lists };
    return this.cache;
  }

  /**
   * The rules (ENFORCE and SHADOW) whose condition holds, for each event of a batch in order. Every event
   * is already stored; `laterIds` names the same customer's events that come after it in the call, which its
   * windows must not count. All aggregates of all events are one statement (see combineAggregateQueries).
   */
  async evaluateBatch(manager: EntityManager, items: readonly BatchEvaluation[]): Promise<ActiveRule[][]> {
    const { statement, evaluate } = await this.prepareBatch(manager, items);
    return evaluate(statement ? ((await manager.query(statement.text, statement.values)) as Array<Record<string, unknown>>) : []);
  }

  /**
   * `evaluateBatch` in two halves, for a caller that sends the aggregate statement in one round trip with
   * the statement storing the events (it must run after that one, in the same transaction): the statement,
   * or null when no event needs aggregates, and the verdicts from its rows.
   */
  async prepareBatch(
    manager: EntityManager,
    items: readonly BatchEvaluation[],
  ): Promise<{ statement: { text: string; values: unknown[] } | null; evaluate: (rows: ReadonlyArray<Record<string, unknown>>) => ActiveRule[][] }> {
    const { rules, lists } = await this.active(manager);
    const list = (code: string): ReadonlySet<string> => lists.get(code) ?? new Set();
    const prepared = items.map(({ event, customer, laterIds }) => prepareEvaluation(rules, event, customer, list, laterIds));
    const batch = combineAggregateQueries(prepared.flatMap((p, ord) => (p.query ? [{ ord, query: p.query }] : [])));
    return { statement: batch ? { text: batch.sql, values: batch.params } : null, evaluate: (rows) => this.verdicts(prepared, rows, list) };
  }

  private verdicts(
    prepared: ReadonlyArray<ReturnType<typeof prepareEvaluation>>,
    aggregateRows: ReadonlyArray<Record<string, unknown>>,
    list: (code: string) => ReadonlySet<string>,
  ): ActiveRule[][] {
    const rows = new Map<number, Record<string, unknown>>();
    for (const r of aggregateRows as ReadonlyArray<{ ord: number; r: Record<string, unknown> }>) rows.set(Number(r.ord), r.r);
    return prepared.map(({ applicable, verdicts, eventView, customerView, query }, ord) => {
      if (!query) return applicable.filter((_, i) => verdicts[i]);
      const row = rows.get(ord) ?? {};
      const values = readAggregateRow(query, row);
      const last = readLastActivity(row); // null when no open rule asked for it
      const ctx = {
        event: eventView, customer: { ...customerView, daysSinceLastActivity: last ? (eventView.occurredAt.getTime() - last.getTime()) / DAY_MS : null },
        aggregate: (key: string) => values.get(key) ?? null, list,
      };
      return applicable.filter((r, i) => verdicts[i] ?? r.compiled.evaluate(ctx));
    });
  }
}
