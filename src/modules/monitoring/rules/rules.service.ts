import { Inject, Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { RequestContext } from '../../../common/context/request-context';
import { BadUserInputError, ConflictError, InvalidTransitionError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { decodeCursor, encodeCursor, pageSize } from '../../../common/pagination/cursor';
import { TransactionService } from '../../../database/transaction.service';
import { MAX_DEDUP_WINDOW_MS, parseDuration } from './condition/duration';
import type { Condition } from './condition/condition.types';
import { listReferences } from './condition/list-references';
import { assertValidCondition, invalidConditionError } from './condition/validate-condition';
import type { CreateRuleInput, RuleModel, RulesFilter, UpdateRuleInput } from '../models/rule.model';
import { RuleMode, RuleStatus } from '../models/monitoring.enums';
import { RuleEngine } from './rule-engine.service';
import { toRuleModel, type RuleRow } from './rule-row';

export { toRuleModel, type RuleRow };

/**
 * Versioned rules: a DRAFT is edited in place; an ACTIVE or RETIRED version is never edited — updating it
 * drafts the next version. Activating a version retires the active one of the same code.
 */
@Injectable()
export class RulesService {
  constructor(
    private readonly tx: TransactionService,
    private readonly engine: RuleEngine,
    private readonly context: RequestContext,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  async get(id: string): Promise<RuleModel> {
    return toRuleModel(await this.row(id));
  }

  async getMany(ids: readonly string[]): Promise<Array<RuleModel | null>> {
    const rows = (await this.tx.manager().query(`SELECT * FROM rule WHERE id = ANY($1)`, [ids.filter((id) => isUUID(id))])) as RuleRow[];
    const byId = new Map(rows.map((r) => [r.id, toRuleModel(r)]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  private async row(id: string): Promise<RuleRow> {
    if (!isUUID(id)) throw BadUserInputError.field('id', 'is not a valid id');
    const [row] = (await this.tx.manager().query(`SELECT * FROM rule WHERE id = $1`, [id])) as RuleRow[];
    if (!row) throw new NotFoundError('Rule');
    return row;
  }

  /**
   * The version as it stands once this transaction holds its row: a change reads and checks this, never a
   * copy read before, so two concurrent edits of a draft both land (one after the other) and two
   * concurrent activations or retirements of one version succeed once.
   */
  private async lockedRow(manager: EntityManager, id: string): Promise<RuleRow> {
    if (!isUUID(id)) throw BadUserInputError.field('id', 'is not a valid id');
    const [row] = (await manager.query(`SELECT * FROM rule WHERE id = $1 FOR UPDATE`, [id])) as RuleRow[];
    if (!row) throw new NotFoundError('Rule');
    return row;
  }

  async list(filter: RulesFilter | undefined, page: PageArgs): Promise<ConnectionShape<RuleModel>> {
    const limit = pageSize(page);
    const params: unknown[] = [];
    let where = 'TRUE';
    if (filter?.code) where += ` AND code = $${params.push(filter.code)}`;
    if (filter?.status) where += ` AND status = $${params.push(filter.status)}`;
    const [{ total }] = (await this.tx.manager().query(`SELECT count(*)::int AS total FROM rule WHERE ${where}`, params)) as Array<{ total: number }>;
    if (page.after) {
      const [code, version] = decodeCursor(page.after, ['text', 'int']);
      where += ` AND (code, version) > ($${params.push(code)}, $${params.push(version)}::int)`;
    }
    const rows = (await this.tx.manager().query(`SELECT * FROM rule WHERE ${where} ORDER BY code, version LIMIT $${params.push(limit + 1)}`, params)) as RuleRow[];
    const nodes = rows.slice(0, limit).map(toRuleModel);
    const last = nodes[nodes.length - 1];
    return { nodes, totalCount: total, pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? encodeCursor([last.code, last.version]) : null } };
  }

  async create(input: CreateRuleInput): Promise<RuleModel> {
    this.check(input.condition, input.dedupWindow);
    return this.tx.run(async (manager) => {
      await this.checkWatchlists(manager, input.condition);
      const [exists] = (await manager.query(`SELECT 1 FROM rule WHERE code = $1 LIMIT 1`, [input.code])) as unknown[];
      if (exists) throw new ConflictError(`Rule ${input.code} exists: update it to draft a new version`, { field: 'code' });
      const [row] = (await manager.query(
        `INSERT INTO rule (code, version, name, description, event_types, condition, severity, actions, mode, dedup_window, created_by)
         VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
        [input.code, input.name, input.description ?? null, input.eventTypes, JSON.stringify(input.condition), input.severity, [...new Set(input.actions)], input.mode ?? RuleMode.ENFORCE, input.dedupWindow ?? 'P1D', this.actorId()],
      )) as RuleRow[];
      await this.audit.record({ action: 'rule.create', outcome: 'SUCCESS', resourceType: 'Rule', resourceId: row.id, details: { code: row.code, version: 1 } });
      return toRuleModel(row);
    });
  }

  async update(id: string, input: UpdateRuleInput): Promise<RuleModel> {
    // A malformed id is reported before a bad condition, as lockedRow would, without opening a transaction.
    if (!isUUID(id)) throw BadUserInputError.field('id', 'is not a valid id');
    this.check(input.condition, input.dedupWindow);
    const { code } = await this.row(id);
    return this.tx.run(async (manager) => {
      // Before the row's lock, as activation takes them: two edits of versions of one code then number their
      // new versions one after the other instead of both taking max(version) + 1.
      await this.lockCode(manager, code);
      // Fields left out keep their current values: current as of the lock, so a concurrent edit is not undone.
      const current = await this.lockedRow(manager, id);
      const merged = {
        name: input.name ?? current.name,
        // An explicit null clears the description; left out, it stays.
        description: input.description === null ? null : (input.description ?? current.description),
        eventTypes: input.eventTypes ?? current.event_types,
        condition: input.condition ?? current.condition,
        severity: input.severity ?? current.severity,
        actions: input.actions ? [...new Set(input.actions)] : current.actions,
        mode: input.mode ?? current.mode,
        dedupWindow: input.dedupWindow ?? current.dedup_window,
      };
      if (input.condition !== undefined) await this.checkWatchlists(manager, input.condition);
      let row: RuleRow;
      if (current.status === RuleStatus.DRAFT) {
        [row] = ((await manager.query(
          `UPDATE rule SET name = $2, description = $3, event_types = $4, condition = $5, severity = $6, actions = $7, mode = $8, dedup_window = $9, updated_at = now()
            WHERE id = $1 RETURNING *`,
          [id, merged.name, merged.description, merged.eventTypes, JSON.stringify(merged.condition), merged.severity, merged.actions, merged.mode, merged.dedupWindow],
        )) as [RuleRow[], number])[0];
      } else {
        // An ACTIVE or RETIRED version is history: the change becomes the next DRAFT version of the code.
        const [{ next }] = (await manager.query(`SELECT max(version) + 1 AS next FROM rule WHERE code = $1`, [current.code])) as Array<{ next: number }>;
        [row] = (await manager.query(
          `INSERT INTO rule (code, version, name, description, event_types, condition, severity, actions, mode, dedup_window, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
          [current.code, next, merged.name, merged.description, merged.eventTypes, JSON.stringify(merged.condition), merged.severity, merged.actions, merged.mode, merged.dedupWindow, this.actorId()],
        )) as RuleRow[];
      }
      await this.audit.record({ action: 'rule.update', outcome: 'SUCCESS', resourceType: 'Rule', resourceId: row.id, details: { code: row.code, version: row.version, from: current.id } });
      return toRuleModel(row);
    });
  }

  async activate(id: string): Promise<RuleModel> {
    const { code } = await this.row(id);
    const result = await this.tx.run(async (manager) => {
      // One activation per code at a time; the version itself is read again under the lock.
      await this.lockCode(manager, code);
      const rule = await this.lockedRow(manager, id);
      if (rule.status === RuleStatus.ACTIVE) throw new InvalidTransitionError('Rule', rule.status, RuleStatus.ACTIVE);
      // A draft saved under looser checks (or edited in the database) is checked here, before it can run:
      // the language as it is now, then the watchlists it names.
      assertValidCondition(rule.condition);
      await this.checkWatchlists(manager, rule.condition);
      const [replaced] = (await manager.query(
        `UPDATE rule SET status = 'RETIRED', retired_at = now(), updated_at = now() WHERE code = $1 AND status = 'ACTIVE' RETURNING id, version`,
        [rule.code],
      )) as [Array<{ id: string; version: number }>, number];
      const [rows] = (await manager.query(`UPDATE rule SET status = 'ACTIVE', activated_at = now(), retired_at = NULL, updated_at = now() WHERE id = $1 RETURNING *`, [id])) as [RuleRow[], number];
      // The version it replaces stops running too: its own entry, so a reviewer following that version finds it.
      for (const old of replaced) {
        await this.audit.record({ action: 'rule.retire', outcome: 'SUCCESS', resourceType: 'Rule', resourceId: old.id, details: { code: rule.code, version: old.version, replacedBy: id } });
      }
      await this.audit.record({ action: 'rule.activate', outcome: 'SUCCESS', resourceType: 'Rule', resourceId: id, details: { code: rule.code, version: rule.version } });
      return toRuleModel(rows[0]);
    });
    this.engine.invalidate();
    return result;
  }

  async retire(id: string): Promise<RuleModel> {
    const result = await this.tx.run(async (manager) => {
      const rule = await this.lockedRow(manager, id);
      if (rule.status === RuleStatus.RETIRED) throw new InvalidTransitionError('Rule', rule.status, RuleStatus.RETIRED);
      const [rows] = (await manager.query(`UPDATE rule SET status = 'RETIRED', retired_at = now(), updated_at = now() WHERE id = $1 RETURNING *`, [id])) as [RuleRow[], number];
      await this.audit.record({ action: 'rule.retire', outcome: 'SUCCESS', resourceType: 'Rule', resourceId: id, details: { code: rule.code, version: rule.version } });
      return toRuleModel(rows[0]);
    });
    this.engine.invalidate();
    return result;
  }

  /** The code's lock, held to the end of the transaction: changes to one code's set of versions queue on it. */
  private async lockCode(manager: EntityManager, code: string): Promise<void> {
    await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 11))`, [code]);
  }

  private check(condition: unknown, dedupWindow: string | undefined): void {
    if (condition !== undefined) assertValidCondition(condition, 'condition');
    if (dedupWindow === undefined || dedupWindow === null) return;
    const ms = parseDuration(dedupWindow);
    if (ms === null) throw BadUserInputError.field('dedupWindow', 'must be an ISO-8601 duration such as P1D');
    if (ms > MAX_DEDUP_WINDOW_MS) throw BadUserInputError.field('dedupWindow', 'must be at most P366D');
  }

  /**
   * Every `{"list": code}` must name an existing watchlist: the engine reads a missing one as empty, so a
   * misspelt code would make `in` never match and `notIn` match everything. Watchlists cannot be deleted
   * (there is no such operation), so a code that exists now keeps existing for the rule's lifetime.
   */
  private async checkWatchlists(manager: EntityManager, condition: unknown): Promise<void> {
    const refs = listReferences(condition as Condition, 'condition');
    if (!refs.length) return;
    const rows = (await manager.query(`SELECT code FROM watchlist WHERE code = ANY($1::text[])`, [[...new Set(refs.map((r) => r.code))]])) as Array<{ code: string }>;
    const known = new Set(rows.map((r) => r.code));
    const errors = refs.filter((r) => !known.has(r.code)).map((r) => ({ path: r.path, message: `names no watchlist: create ${r.code} with createWatchlist first` }));
    if (errors.length) throw invalidConditionError(errors);
  }

  private actorId(): string | null {
    const p = this.context.principal;
    return p?.kind === 'USER' ? p.userId : null;
  }
}
