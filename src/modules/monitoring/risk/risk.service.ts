import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { CustomersService } from '../../customers/customers.service';
import { EarlyWarningsService } from './early-warnings.service';
import { ACCOUNT_AGE_POINTS, scoreRisk, sameRisk, TRUE_POSITIVE_WINDOW_DAYS, type Level, type RiskFactorLine } from './risk-scoring';
import { isClosedCustomer } from '../../customers/customer-status';

/**
 * A provider of further risk factors, registered by a module that owns the input — cases for active
 * sanctions, complaints for open or repeated complaints — so monitoring never reads their tables
 * (the dependency arrow points from them to monitoring). Each source caps its own points; its lines
 * come after the alert factors and before credit, verification and account age (see risk-scoring.ts).
 * Such a module also calls {@link RiskService.recompute} in its own transaction when its input changes.
 */
export interface RiskFactorSource {
  name: string;
  factors(manager: EntityManager, customerId: string, now: Date): Promise<RiskFactorContribution>;
}

/**
 * A source's lines, and when the earliest time-windowed input behind them leaves its window (a complaint
 * older than the repeat window): the score is recomputed then, with no other trigger. Null: nothing expires.
 */
export interface RiskFactorContribution {
  lines: RiskFactorLine[];
  reviewAt: Date | null;
}

export interface RiskResult {
  score: number;
  level: Level;
  factors: RiskFactorLine[];
  changed: boolean;
}

const DAY_MS = 86_400_000;
/** ACCOUNT_AGE points a customer of that creation time should have now, in SQL (constants only). */
const AGE_POINTS_SQL = `CASE ${ACCOUNT_AGE_POINTS.map((b) => `WHEN c.created_at > now() - interval '${Number(b.days)} days' THEN ${Number(b.points)}`).join(' ')} ELSE 0 END`;
const LAST_AGE_BRACKET_DAYS = Math.max(...ACCOUNT_AGE_POINTS.map((b) => b.days));

/**
 * The customer's risk score (0–100, factors that add up to it, level from the score), recomputed when an
 * input changes, in the transaction of that change:
 * - an alert raised or repeated (decision pipeline), an alert transitioned (AlertsService.transition);
 * - a credit assessment (recordCreditAssessment);
 * - a complaint filed or changing state (ComplaintChanges, with complaints as a registered factor source);
 * - a verification result that changes the level;
 * - a periodic refresh for customers never scored, for those whose account-age bracket ran out, and for
 *   those whose review time came (`risk_review_at`: a windowed input, a true positive or complaint, expired).
 * The customers module stores the current value; a history row is written only when score or level change.
 */
@Injectable()
export class RiskService {
  private readonly sources: RiskFactorSource[] = [];

  constructor(
    private readonly customers: CustomersService,
    private readonly warnings: EarlyWarningsService,
  ) {}

  registerFactorSource(source: RiskFactorSource): void {
    if (!this.sources.some((s) => s.name === source.name)) this.sources.push(source);
  }

  /**
   * Recomputes and stores one customer's risk under a row lock (concurrent recomputes of one customer
   * queue, each seeing the inputs the previous one committed). `null` for an unknown customer.
   */
  async recompute(manager: EntityManager, customerId: string, reason: string): Promise<RiskResult | null> {
    const customer = await this.customers.riskInputs(manager, customerId);
    if (!customer) return null;
    const now = new Date();
    const [alerts] = (await manager.query(
      `SELECT min(closed_at) FILTER (WHERE status = 'CLOSED' AND disposition = 'TRUE_POSITIVE' AND closed_at > $2::timestamptz - make_interval(days => $3::int))
                + make_interval(days => $3::int) AS true_positive_expires,
              count(*) FILTER (WHERE status <> 'CLOSED' AND severity = 'LOW')::int AS low,
              count(*) FILTER (WHERE status <> 'CLOSED' AND severity = 'MEDIUM')::int AS medium,
              count(*) FILTER (WHERE status <> 'CLOSED' AND severity = 'HIGH')::int AS high,
              count(*) FILTER (WHERE status <> 'CLOSED' AND severity = 'CRITICAL')::int AS critical,
              count(*) FILTER (WHERE status = 'CLOSED' AND disposition = 'TRUE_POSITIVE' AND closed_at > $2::timestamptz - make_interval(days => $3::int))::int AS true_positives
         FROM alert WHERE customer_id = $1`,
      [customerId, now.toISOString(), TRUE_POSITIVE_WINDOW_DAYS],
    )) as Array<{ true_positive_expires: Date | null; low: number; medium: number; high: number; critical: number; true_positives: number }>;
    const extra: RiskFactorLine[] = [];
    let reviewAt = alerts.true_positive_expires === null ? null : new Date(alerts.true_positive_expires);
    for (const source of this.sources) {
      const contribution = await source.factors(manager, customerId, now);
      extra.push(...contribution.lines);
      if (contribution.reviewAt && (!reviewAt || contribution.reviewAt < reviewAt)) reviewAt = contribution.reviewAt;
    }
    const next = scoreRisk({
      openAlerts: { LOW: alerts.low, MEDIUM: alerts.medium, HIGH: alerts.high, CRITICAL: alerts.critical },
      truePositives: alerts.true_positives,
      extra,
      creditLevel: customer.creditLevel,
      verificationLevel: customer.verificationLevel,
      accountAgeDays: Math.max(0, (now.getTime() - customer.createdAt.getTime()) / DAY_MS),
    });
    const previous = { score: customer.riskScore, level: customer.riskLevel, factors: customer.riskFactors };
    if (sameRisk(previous, next)) {
      if (customer.riskReviewAt?.getTime() !== reviewAt?.getTime()) await this.customers.setRiskReviewAt(manager, customerId, reviewAt);
      return { ...next, changed: false };
    }
    await this.customers.updateRisk(manager, customerId, next.score, next.level, next.factors, reviewAt);
    const changed = previous.score !== next.score || previous.level !== next.level;
    if (changed) {
      await manager.query(
        `INSERT INTO customer_risk_history (customer_id, score, level, previous_score, previous_level, factors, reason) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)`,
        [customerId, next.score, next.level, previous.score, previous.level, JSON.stringify(next.factors), reason.slice(0, 100)],
      );
      // A closed relationship is not warned about any more; a fall still resolves a warning.
      await this.warnings.onRiskChange(manager, customerId, previous, next, reason, { closed: isClosedCustomer(customer.status) });
    }
    return { ...next, changed };
  }

  /**
   * Periodic: customers whose stored score is stale without any event — never scored yet (no history and
   * younger than the last account-age bracket), whose ACCOUNT_AGE factor no longer matches their age, or
   * whose review time has come (a true positive or complaint it counted has left its 90-day window).
   * One batch of at most `limit`, in id order after `after` (the caller walks the batches, each in its own
   * transaction): id order is the order ingest locks customer rows in, so the two never deadlock, and a
   * customer whose recompute leaves it "stale" (a score of 0 writes no history) is visited once per walk.
   */
  async refreshStale(manager: EntityManager, limit = 500, after: string | null = null): Promise<{ count: number; last: string | null }> {
    const rows = (await manager.query(
      `SELECT c.id FROM customer c
        WHERE c.status <> 'ERASED' AND ($2::uuid IS NULL OR c.id > $2::uuid) AND (
              c.risk_review_at <= now()
           OR (c.created_at > now() - interval '${LAST_AGE_BRACKET_DAYS} days' AND NOT EXISTS (SELECT 1 FROM customer_risk_history h WHERE h.customer_id = c.id))
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(c.risk_factors) f
                       WHERE f->>'factor' = 'ACCOUNT_AGE'
                         AND (f->>'points')::int > ${AGE_POINTS_SQL}))
        ORDER BY c.id LIMIT $1`,
      [limit, after],
    )) as Array<{ id: string }>;
    for (const { id } of rows) await this.recompute(manager, id, 'refresh');
    return { count: rows.length, last: rows.at(-1)?.id ?? null };
  }
}
