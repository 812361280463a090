import { Injectable } from '@nestjs/common';
import { BadUserInputError } from '../../common/errors/app-error';
import { TransactionService } from '../../database/transaction.service';
import { OPEN_STATUSES } from './complaint-transitions';
import type { ComplaintStatsInput, RepeatComplainantsInput } from './dto/complaint.inputs';
import { ComplaintStatsGroupBy } from './models/complaint.enums';
import type { ComplaintStatModel, RepeatComplainantModel } from './models/complaint.model';

const HOUR_MS = 3_600_000;
/** Longest period one stats or repeat-complainant query may cover. */
export const MAX_ANALYTICS_DAYS = 366;
/** Repeat complainants returned at most (most complaints first). */
export const MAX_REPEAT_COMPLAINANTS = 100;

const GROUP_KEY: Record<ComplaintStatsGroupBy, string> = {
  CATEGORY: 'k.category',
  CHANNEL: 'k.channel',
  SEVERITY: 'k.severity',
  DAY: `to_char(k.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
};

/**
 * A deadline missed: escalated by the sweep, or — whether or not the sweep has run yet — acknowledged or
 * resolved after its deadline, or short of it when the deadline passed. The clock stops at `closed_at`: a
 * complaint closed unacknowledged or unresolved (an erasure closes them so) missed only the deadlines that
 * passed before it closed. Derived from the timestamps rather than the sweep's breach stamps, which lag
 * the clock by up to a sweep (longer during a job outage) and are never set for an erased customer.
 */
const BREACHED_SQL = `(k.escalated
  OR k.acknowledged_at > k.acknowledge_by OR (k.acknowledged_at IS NULL AND k.acknowledge_by < coalesce(k.closed_at, now()))
  OR k.resolved_at > k.resolve_by OR (k.resolved_at IS NULL AND k.resolve_by < coalesce(k.closed_at, now())))`;

/** `P30D`, `P4W`, `PT48H` → milliseconds (the input's pattern already checked the shape). */
export function windowMs(window: string): number {
  const m = /^P(?:(\d+)W|(\d+)D|T(\d+)H)$/.exec(window);
  if (!m) throw BadUserInputError.field('window', 'must be an ISO-8601 duration such as P30D, P4W or PT48H');
  const [, w, d, h] = m;
  return (w ? Number(w) * 7 * 24 : d ? Number(d) * 24 : Number(h)) * HOUR_MS;
}

/**
 * Complaint analytics for compliance officers (SPEC §5, §8: `complaintStats`, `repeatComplainants`),
 * computed in SQL over every complaint (this role's scope is all of them); medians with percentile_cont.
 */
@Injectable()
export class ComplaintAnalytics {
  constructor(private readonly tx: TransactionService) {}

  async stats(input: ComplaintStatsInput): Promise<ComplaintStatModel[]> {
    const from = new Date(input.from);
    const to = new Date(input.to);
    if (!(from < to)) throw BadUserInputError.field('to', 'must be after from');
    if (to.getTime() - from.getTime() > MAX_ANALYTICS_DAYS * 24 * HOUR_MS) throw BadUserInputError.field('to', `must be at most ${MAX_ANALYTICS_DAYS} days after from`);
    const rows = (await this.tx.manager().query(
      `SELECT ${GROUP_KEY[input.groupBy]} AS key,
              count(*)::int AS count,
              count(*) FILTER (WHERE k.status = ANY($3::text[]))::int AS open,
              count(*) FILTER (WHERE ${BREACHED_SQL})::int AS sla_breached,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM k.resolved_at - k.received_at) / 3600.0) AS median_hours,
              avg(k.satisfaction)::float8 AS avg_satisfaction
         FROM complaint k
        WHERE k.received_at >= $1::timestamptz AND k.received_at < $2::timestamptz
        GROUP BY 1 ORDER BY 1`,
      [from.toISOString(), to.toISOString(), [...OPEN_STATUSES]],
    )) as Array<{ key: string; count: number; open: number; sla_breached: number; median_hours: number | string | null; avg_satisfaction: number | null }>;
    const round = (v: number | string | null) => (v === null ? null : Math.round(Number(v) * 100) / 100);
    return rows.map((r) => ({ key: r.key, count: r.count, open: r.open, slaBreached: r.sla_breached, medianHoursToResolve: round(r.median_hours), avgSatisfaction: round(r.avg_satisfaction) }));
  }

  async repeatComplainants(input: RepeatComplainantsInput): Promise<RepeatComplainantModel[]> {
    const ms = windowMs(input.window);
    if (ms > MAX_ANALYTICS_DAYS * 24 * HOUR_MS) throw BadUserInputError.field('window', `must be at most P${MAX_ANALYTICS_DAYS}D`);
    const rows = (await this.tx.manager().query(
      `SELECT k.customer_id, count(*)::int AS complaints, array_agg(DISTINCT k.category ORDER BY k.category) AS categories,
              min(k.received_at) AS first_received_at, max(k.received_at) AS last_received_at
         FROM complaint k
        WHERE k.received_at > now() - make_interval(secs => $1::bigint / 1000.0)
        GROUP BY k.customer_id HAVING count(*) >= $2::int
        ORDER BY complaints DESC, last_received_at DESC, k.customer_id
        LIMIT ${MAX_REPEAT_COMPLAINANTS}`,
      [ms, input.minComplaints],
    )) as Array<{ customer_id: string; complaints: number; categories: string[]; first_received_at: Date; last_received_at: Date }>;
    return rows.map((r) => ({ customerId: r.customer_id, complaints: r.complaints, categories: r.categories, firstReceivedAt: r.first_received_at, lastReceivedAt: r.last_received_at }));
  }
}
