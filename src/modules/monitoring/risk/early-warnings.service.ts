import { Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { RequestContext } from '../../../common/context/request-context';
import { Role, type Principal } from '../../../common/context/principal';
import { BadUserInputError, ForbiddenError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { decodeCursor, encodeCursor, pageSize } from '../../../common/pagination/cursor';
import { TransactionService } from '../../../database/transaction.service';
import { LEVELS, levelRank } from './risk-scoring';
import { EarlyWarningStatus, EarlyWarningType, type EarlyWarningModel, type EarlyWarningsFilter } from './risk.models';
import { isClosedCustomer } from '../../customers/customer-status';
import { NUMERIC_RE, NUMERIC_SQL_RE } from '../rules/condition/semantics';

/** CREDIT_DETERIORATION thresholds. */
export const CREDIT_DETERIORATION = {
  /** A new assessment this many points below the previous one. */
  scoreDrop: 50,
  /** PAYMENT events with `attributes.daysLate > 0` inside the window, the current one included. */
  latePayments: 2,
  windowDays: 90,
} as const;

/**
 * CHURN_RISK: activity (events of `activityTypes`) in the last `recentDays` below `ratio` × the monthly
 * average of the `priorDays` before them; customers with fewer than `minPriorEvents` events in that prior
 * period have no baseline and are never flagged.
 */
export const CHURN_RISK = {
  recentDays: 30,
  priorDays: 90,
  ratio: 0.3,
  minPriorEvents: 3,
  activityTypes: ['TRANSACTION', 'LOGIN', 'PAYMENT'],
} as const;

/** LOW_SATISFACTION: complaint feedback at or below this (on the 1–5 scale). */
export const LOW_SATISFACTION_MAX = 2;

type Row = {
  id: string; customer_id: string; type: EarlyWarningType; status: EarlyWarningStatus; detail: Record<string, unknown>; occurrences: number;
  created_at: Date; updated_at: Date; resolved_at: Date | null; account_manager_id?: string | null;
};
const toModel = (r: Row): EarlyWarningModel => ({
  id: r.id, type: r.type, customerId: r.customer_id, status: r.status, detail: r.detail ?? {}, occurrences: r.occurrences,
  createdAt: r.created_at, updatedAt: r.updated_at, resolvedAt: r.resolved_at, accountManagerId: r.account_manager_id ?? null,
});

/**
 * `attributes.daysLate` as a number (a JSON number or a decimal string, as rules read numbers), else 0.
 * The string test is the rule engine's ASCII-only one: the SQL below must accept exactly the same strings,
 * and PostgreSQL's `\s` and `\d` follow the locale (U+3000 is a space there) where `::numeric` does not.
 */
export function daysLateOf(attributes: unknown): number {
  const raw = (attributes as Record<string, unknown> | null | undefined)?.daysLate;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && NUMERIC_RE.test(raw) ? Number(raw) : 0;
  return Number.isFinite(n) ? n : 0;
}

/** The same test in SQL, over `event.attributes`; never a cast error on odd values. */
const DAYS_LATE_SQL = `CASE WHEN jsonb_typeof(attributes->'daysLate') = 'number' THEN (attributes->>'daysLate')::numeric
                            WHEN attributes->>'daysLate' ~ '${NUMERIC_SQL_RE}' THEN (attributes->>'daysLate')::numeric END`;

/**
 * Early warnings: signs that a customer is heading for trouble before any rule fires. At most one OPEN
 * warning per customer and type (a partial unique index); a repeat while it is open updates its detail
 * and counts `occurrences`. Writers pass the caller's transaction so a warning commits with its cause.
 */
@Injectable()
export class EarlyWarningsService {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
  ) {}

  /**
   * Opens a warning, or repeats the open one of that customer and type. `keep` names detail keys whose
   * first value survives repeats (e.g. the level a risk escalation started from).
   */
  async raise(manager: EntityManager, customerId: string, type: EarlyWarningType, detail: Record<string, unknown>, keep: readonly string[] = []): Promise<EarlyWarningModel> {
    const [row] = (await manager.query(
      `INSERT INTO early_warning AS w (customer_id, type, detail) VALUES ($1, $2, $3::jsonb)
       ON CONFLICT (customer_id, type) WHERE status = 'OPEN'
       DO UPDATE SET detail = EXCLUDED.detail || (SELECT coalesce(jsonb_object_agg(k, w.detail -> k), '{}'::jsonb) FROM unnest($4::text[]) AS k WHERE w.detail ? k),
                     occurrences = w.occurrences + 1, updated_at = clock_timestamp()
       RETURNING *`,
      [customerId, type, JSON.stringify(detail), [...keep]],
    )) as Row[];
    return toModel(row);
  }

  /** Resolves the open warning of that type (if any); `condition` is extra SQL on `w` (no user input). */
  private async resolveOpen(manager: EntityManager, customerId: string, type: EarlyWarningType, resolution: string, condition = 'TRUE', params: unknown[] = []): Promise<number> {
    const [, count] = (await manager.query(
      `UPDATE early_warning w SET status = 'RESOLVED', resolved_at = clock_timestamp(), updated_at = clock_timestamp(),
              detail = w.detail || jsonb_build_object('resolution', $3::text)
        WHERE w.customer_id = $1 AND w.type = $2 AND w.status = 'OPEN' AND (${condition})`,
      [customerId, type, resolution, ...params],
    )) as [unknown, number];
    return count;
  }

  // ---- CREDIT_DETERIORATION -------------------------------------------------------------------------

  /** Late PAYMENT events of a customer in the window that ends at `at` (inclusive). */
  async latePayments(manager: EntityManager, customerId: string, at: Date, excludeIds: readonly string[] = []): Promise<number> {
    const [{ n }] = (await manager.query(
      `SELECT count(*)::int AS n FROM event
        WHERE customer_id = $1 AND type = 'PAYMENT'
          AND occurred_at > $2::timestamptz - make_interval(days => $3::int) AND occurred_at <= $2::timestamptz
          AND (${DAYS_LATE_SQL}) > 0 AND NOT (id = ANY($4::uuid[]))`,
      [customerId, at.toISOString(), CREDIT_DETERIORATION.windowDays, excludeIds],
    )) as Array<{ n: number }>;
    return n;
  }

  /** On PAYMENT ingest (pipeline hook): a late payment that makes ≥ 2 in 90 days raises the warning. */
  async evaluatePayment(
    manager: EntityManager,
    e: { customerId: string; eventId?: string; occurredAt: Date; attributes?: unknown; excludeIds?: readonly string[] },
  ): Promise<EarlyWarningModel | null> {
    if (daysLateOf(e.attributes) <= 0) return null;
    // `excludeIds`: events stored in the same call after this one, which this one must not count.
    const late = await this.latePayments(manager, e.customerId, e.occurredAt, e.excludeIds);
    if (late < CREDIT_DETERIORATION.latePayments) return null;
    return this.raise(manager, e.customerId, EarlyWarningType.CREDIT_DETERIORATION, {
      reasons: ['LATE_PAYMENTS'], latePayments: late, windowDays: CREDIT_DETERIORATION.windowDays, eventId: e.eventId ?? null,
    });
  }

  /** On recordCreditAssessment: a score drop of ≥ 50, a worse level, or ≥ 2 late payments in 90 days. */
  async evaluateCreditAssessment(
    manager: EntityManager,
    customerId: string,
    previous: { score: number | null; level: string | null },
    next: { score: number; level: string },
    at: Date,
  ): Promise<EarlyWarningModel | null> {
    const reasons: string[] = [];
    const drop = previous.score === null ? 0 : previous.score - next.score;
    if (drop >= CREDIT_DETERIORATION.scoreDrop) reasons.push('SCORE_DROP');
    if (previous.level !== null && levelRank(next.level) > levelRank(previous.level)) reasons.push('LEVEL_WORSENED');
    const late = await this.latePayments(manager, customerId, at);
    if (late >= CREDIT_DETERIORATION.latePayments) reasons.push('LATE_PAYMENTS');
    if (!reasons.length) return null;
    return this.raise(manager, customerId, EarlyWarningType.CREDIT_DETERIORATION, {
      reasons, previousScore: previous.score, score: next.score, scoreDrop: drop > 0 ? drop : 0, previousLevel: previous.level, level: next.level,
      latePayments: late, windowDays: CREDIT_DETERIORATION.windowDays,
    });
  }

  // ---- RISK_ESCALATION ------------------------------------------------------------------------------

  /**
   * After a recompute: a risk level that rose raises RISK_ESCALATION (repeats keep the level it started
   * from); once the level is back at or below that starting level the warning resolves itself. A closed
   * customer's rise (a triaged alert of an erased customer, say) raises nothing.
   */
  async onRiskChange(
    manager: EntityManager, customerId: string, previous: { score: number; level: string }, next: { score: number; level: string }, reason: string, customer: { closed: boolean } = { closed: false },
  ): Promise<void> {
    if (levelRank(next.level) > levelRank(previous.level)) {
      if (customer.closed) return;
      await this.raise(manager, customerId, EarlyWarningType.RISK_ESCALATION, { fromLevel: previous.level, fromScore: previous.score, toLevel: next.level, toScore: next.score, reason }, ['fromLevel', 'fromScore']);
    } else if (levelRank(next.level) < levelRank(previous.level)) {
      await this.resolveOpen(manager, customerId, EarlyWarningType.RISK_ESCALATION, `risk level back to ${next.level}`,
        `array_position($4::text[], w.detail->>'fromLevel') >= array_position($4::text[], $5::text)`, [[...LEVELS], next.level]);
    }
  }

  // ---- LOW_SATISFACTION -----------------------------------------------------------------------------

  /**
   * The hook complaints will call when a customer rates a resolution (`recordComplaintFeedback`,
   * satisfaction 1–5): ≤ 2 raises LOW_SATISFACTION. Joins the caller's transaction when given one.
   */
  async recordSatisfaction(customerId: string, score: number, context: { complaintId?: string } = {}, manager?: EntityManager): Promise<EarlyWarningModel | null> {
    if (!isUUID(customerId)) throw BadUserInputError.field('customerId', 'is not a valid id');
    if (!Number.isInteger(score) || score < 1 || score > 5) throw BadUserInputError.field('satisfaction', 'must be an integer from 1 to 5');
    if (score > LOW_SATISFACTION_MAX) return null;
    const work = async (m: EntityManager) => {
      // Feedback on an old complaint may come after the relationship ended: nothing to warn about then.
      const [customer] = (await m.query(`SELECT status FROM customer WHERE id = $1`, [customerId])) as Array<{ status: string }>;
      if (!customer || isClosedCustomer(customer.status)) return null;
      return this.raise(m, customerId, EarlyWarningType.LOW_SATISFACTION, { satisfaction: score, threshold: LOW_SATISFACTION_MAX, complaintId: context.complaintId ?? null });
    };
    return manager ? work(manager) : this.tx.run(work);
  }

  // ---- CHURN_RISK -----------------------------------------------------------------------------------

  /**
   * Periodic (and on demand): flags customers whose activity fell below the churn threshold and resolves
   * open CHURN_RISK warnings of customers who are active again. One statement reads the activity of every
   * customer in the 120-day window (index on event (occurred_at)); cheap enough hourly.
   */
  async refreshChurnWarnings(now: Date = new Date(), manager?: EntityManager): Promise<{ raised: number; resolved: number }> {
    const work = async (m: EntityManager) => {
      const rows = (await m.query(
        `WITH activity AS (
           SELECT e.customer_id,
                  count(*) FILTER (WHERE e.occurred_at > $1::timestamptz - make_interval(days => $2::int)) AS recent,
                  count(*) FILTER (WHERE e.occurred_at <= $1::timestamptz - make_interval(days => $2::int)) AS prior
             FROM event e
            WHERE e.occurred_at > $1::timestamptz - make_interval(days => $2::int + $3::int) AND e.occurred_at <= $1::timestamptz
              AND e.type = ANY($4::text[])
            GROUP BY e.customer_id
         )
         SELECT a.customer_id, a.recent::int AS recent, a.prior::int AS prior,
                EXISTS (SELECT 1 FROM early_warning w WHERE w.customer_id = a.customer_id AND w.type = 'CHURN_RISK' AND w.status = 'OPEN') AS open
           FROM activity a JOIN customer c ON c.id = a.customer_id
          WHERE c.status NOT IN ('TERMINATED', 'ERASED')
            AND a.prior >= $5::int AND a.recent < $6::numeric * (a.prior::numeric / ($3::int / 30.0))`,
        [now.toISOString(), CHURN_RISK.recentDays, CHURN_RISK.priorDays, [...CHURN_RISK.activityTypes], CHURN_RISK.minPriorEvents, CHURN_RISK.ratio],
      )) as Array<{ customer_id: string; recent: number; prior: number; open: boolean }>;
      let raised = 0;
      const stillFlagged: Array<{ customer_id: string; detail: Record<string, unknown> }> = [];
      for (const r of rows) {
        const monthlyAverage = Math.round((r.prior / (CHURN_RISK.priorDays / 30)) * 100) / 100;
        const detail = {
          recentEvents: r.recent, recentDays: CHURN_RISK.recentDays, priorEvents: r.prior, priorDays: CHURN_RISK.priorDays,
          priorMonthlyAverage: monthlyAverage, ratio: monthlyAverage ? Math.round((r.recent / monthlyAverage) * 100) / 100 : 0, threshold: CHURN_RISK.ratio,
        };
        if (r.open) stillFlagged.push({ customer_id: r.customer_id, detail });
        else {
          await this.raise(m, r.customer_id, EarlyWarningType.CHURN_RISK, detail);
          raised++;
        }
      }
      // An open warning still flagged is the same churn, not a new firing: `occurrences` stays, but its figures
      // follow the activity (in one statement, and only where they moved, so a quiet hour writes nothing).
      if (stillFlagged.length) {
        await m.query(
          `UPDATE early_warning w SET detail = w.detail || f.detail, updated_at = clock_timestamp()
             FROM jsonb_to_recordset($1::jsonb) AS f(customer_id uuid, detail jsonb)
            WHERE w.customer_id = f.customer_id AND w.type = 'CHURN_RISK' AND w.status = 'OPEN' AND NOT (w.detail @> f.detail)`,
          [JSON.stringify(stillFlagged)],
        );
      }
      // An open warning whose customer is no longer flagged resolves only for a reason that holds: the
      // customer was closed, or has activity in the recent window again. One still silent there stays open
      // though its older activity has aged out of the baseline (it churned further, it did not recover).
      const [, resolved] = (await m.query(
        `UPDATE early_warning w SET status = 'RESOLVED', resolved_at = clock_timestamp(), updated_at = clock_timestamp(),
                detail = w.detail || jsonb_build_object('resolution',
                  CASE WHEN c.status IN ('TERMINATED', 'ERASED') THEN 'customer closed' ELSE 'activity recovered' END)
           FROM customer c
          WHERE c.id = w.customer_id AND w.type = 'CHURN_RISK' AND w.status = 'OPEN' AND NOT (w.customer_id = ANY($1::uuid[]))
            AND (c.status IN ('TERMINATED', 'ERASED')
                 OR EXISTS (SELECT 1 FROM event e
                             WHERE e.customer_id = w.customer_id AND e.type = ANY($4::text[])
                               AND e.occurred_at > $2::timestamptz - make_interval(days => $3::int) AND e.occurred_at <= $2::timestamptz))`,
        [rows.map((r) => r.customer_id), now.toISOString(), CHURN_RISK.recentDays, [...CHURN_RISK.activityTypes]],
      )) as [unknown, number];
      return { raised, resolved };
    };
    return manager ? work(manager) : this.tx.run(work);
  }

  // ---- reading --------------------------------------------------------------------------------------

  private principal(): Principal {
    return this.context.requirePrincipal();
  }

  /** Newest first; an account manager sees the warnings of the customers they manage. */
  async list(filter: EarlyWarningsFilter | undefined, page: PageArgs): Promise<ConnectionShape<EarlyWarningModel>> {
    const limit = pageSize(page);
    const principal = this.principal();
    if (principal.kind !== 'USER') throw new ForbiddenError('Not allowed to read early warnings');
    const params: unknown[] = [];
    let where = 'TRUE';
    if (principal.role === Role.ACCOUNT_MANAGER) where += ` AND c.account_manager_id = $${params.push(principal.userId)}`;
    if (filter?.type) where += ` AND w.type = $${params.push(filter.type)}`;
    if (filter?.status) where += ` AND w.status = $${params.push(filter.status)}`;
    if (filter?.customerId) where += ` AND w.customer_id = $${params.push(filter.customerId)}`;
    const from = 'FROM early_warning w JOIN customer c ON c.id = w.customer_id';
    const [{ total }] = (await this.tx.manager().query(`SELECT count(*)::int AS total ${from} WHERE ${where}`, params)) as Array<{ total: number }>;
    if (page.after) {
      const [at, id] = decodeCursor(page.after, ['timestamptz', 'uuid']);
      where += ` AND (w.created_at, w.id) < ($${params.push(at)}::timestamptz, $${params.push(id)}::uuid)`;
    }
    const rows = (await this.tx.manager().query(`SELECT w.*, c.account_manager_id ${from} WHERE ${where} ORDER BY w.created_at DESC, w.id DESC LIMIT $${params.push(limit + 1)}`, params)) as Row[];
    const nodes = rows.slice(0, limit).map(toModel);
    const last = nodes[nodes.length - 1];
    return { nodes, totalCount: total, pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? encodeCursor([new Date(last.createdAt).toISOString(), last.id]) : null } };
  }
}
