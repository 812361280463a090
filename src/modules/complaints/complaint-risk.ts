import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { weighBySeverity, type Level, type RiskFactorLine } from '../monitoring/risk/risk-scoring';
import { RiskService, type RiskFactorContribution } from '../monitoring/risk/risk.service';

/** Points per complaint still open (not RESOLVED or CLOSED), by its severity. */
export const OPEN_COMPLAINT_POINTS: Readonly<Record<Level, number>> = { LOW: 1, MEDIUM: 3, HIGH: 5, CRITICAL: 8 };
/** A customer with at least this many complaints received in {@link REPEAT_WINDOW_DAYS} is a repeat complainant. */
export const REPEAT_COMPLAINTS = 3;
export const REPEAT_WINDOW_DAYS = 90;
export const REPEAT_POINTS = 5;
export const COMPLAINTS_CAP = 15;

/** The COMPLAINTS factor from a customer's counts; null when it is worth nothing. */
export function complaintsFactor(open: Partial<Record<Level, number>>, recent: number): RiskFactorLine | null {
  const weighed = weighBySeverity(open, OPEN_COMPLAINT_POINTS);
  let points = weighed.points;
  const details = weighed.count ? [`${weighed.count} open (${weighed.parts.join(', ')})`] : [];
  if (recent >= REPEAT_COMPLAINTS) {
    points += REPEAT_POINTS;
    details.push(`${recent} received in ${REPEAT_WINDOW_DAYS} days`);
  }
  if (!points) return null;
  const capped = Math.min(points, COMPLAINTS_CAP);
  return { factor: 'COMPLAINTS', points: capped, detail: details.join('; ') + (capped < points ? ` (capped at ${COMPLAINTS_CAP})` : '') };
}

/**
 * Complaints as a risk input (SPEC §5: the score counts complaints): open complaints by severity, and a
 * repeat complainant. Registered with monitoring's RiskService, which never reads this module's tables;
 * ComplaintChanges recomputes the score when a complaint is filed or changes state.
 */
@Injectable()
export class ComplaintRiskFactors implements OnModuleInit {
  constructor(private readonly risk: RiskService) {}

  onModuleInit(): void {
    this.risk.registerFactorSource({ name: 'complaints', factors: (manager, customerId, now) => this.factors(manager, customerId, now) });
  }

  /** The factor, and when the oldest complaint of the repeat window leaves it (the count, and maybe the points, drop then). */
  async factors(manager: EntityManager, customerId: string, now: Date): Promise<RiskFactorContribution> {
    const [row] = (await manager.query(
      `SELECT min(received_at) FILTER (WHERE received_at > $2::timestamptz - make_interval(days => $3::int)) + make_interval(days => $3::int) AS recent_expires,
              count(*) FILTER (WHERE status NOT IN ('RESOLVED', 'CLOSED') AND severity = 'LOW')::int AS low,
              count(*) FILTER (WHERE status NOT IN ('RESOLVED', 'CLOSED') AND severity = 'MEDIUM')::int AS medium,
              count(*) FILTER (WHERE status NOT IN ('RESOLVED', 'CLOSED') AND severity = 'HIGH')::int AS high,
              count(*) FILTER (WHERE status NOT IN ('RESOLVED', 'CLOSED') AND severity = 'CRITICAL')::int AS critical,
              count(*) FILTER (WHERE received_at > $2::timestamptz - make_interval(days => $3::int))::int AS recent
         FROM complaint WHERE customer_id = $1`,
      [customerId, now.toISOString(), REPEAT_WINDOW_DAYS],
    )) as Array<{ recent_expires: Date | null; low: number; medium: number; high: number; critical: number; recent: number }>;
    const line = complaintsFactor({ LOW: row.low, MEDIUM: row.medium, HIGH: row.high, CRITICAL: row.critical }, row.recent);
    // Only a window that counts towards the factor needs a review: below the repeat threshold, an expiry changes nothing.
    const reviewAt = row.recent >= REPEAT_COMPLAINTS && row.recent_expires !== null ? new Date(row.recent_expires) : null;
    return { lines: line ? [line] : [], reviewAt };
  }
}
