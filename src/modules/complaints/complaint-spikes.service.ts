import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AlertsService } from '../monitoring/alerts/alerts.service';
import type { AlertModel } from '../monitoring/models/alert.model';
import { AlertKind, AlertStatus } from '../monitoring/models/monitoring.enums';
import { ComplaintSettings } from './complaints.settings';

export interface SpikeCheck {
  /** Complaints of the category in the window that ends at the filing (the new one included). */
  recent: number;
  /** Its daily average over the trailing days before that window. */
  trailingDailyAverage: number;
  spike: boolean;
}

/** The spike rule as a pure function: more than `factor` × the trailing daily average, and at least `minCount`. */
export function isSpike(recent: number, trailingDailyAverage: number, rule: { factor: number; minCount: number }): boolean {
  return recent >= rule.minCount && recent > rule.factor * trailingDailyAverage;
}

/**
 * Spike detection on each filing (SPEC §5): a category whose count in the last 24 h exceeds 3 × its daily
 * average over the 7 days before those 24 h, and is at least 5, raises a SYSTEMIC alert (no rule, no
 * customer). A running spike — one detected for the category within the last window — counts another
 * occurrence on its alert instead of raising a new one, as long as that alert is not CLOSED; after that the
 * spike is pointed at a new SYSTEMIC alert. Filings of one category are serialised by a
 * transaction-scoped advisory lock, so two concurrent filings cannot both open an alert.
 */
@Injectable()
export class ComplaintSpikes {
  constructor(
    private readonly alerts: AlertsService,
    private readonly settings: ComplaintSettings,
  ) {}

  async measure(manager: EntityManager, category: string, at: Date): Promise<SpikeCheck> {
    const rule = this.settings.spike;
    const [row] = (await manager.query(
      `SELECT count(*) FILTER (WHERE received_at > $2::timestamptz - make_interval(hours => $3::int))::int AS recent,
              count(*) FILTER (WHERE received_at <= $2::timestamptz - make_interval(hours => $3::int))::int AS trailing
         FROM complaint
        WHERE category = $1 AND received_at <= $2::timestamptz
          AND received_at > $2::timestamptz - make_interval(hours => $3::int) - make_interval(days => $4::int)`,
      [category, at.toISOString(), rule.windowHours, rule.trailingDays],
    )) as Array<{ recent: number; trailing: number }>;
    const trailingDailyAverage = row.trailing / rule.trailingDays;
    return { recent: row.recent, trailingDailyAverage, spike: isSpike(row.recent, trailingDailyAverage, rule) };
  }

  /** Called in the filing's transaction, after the complaint row is written. Returns a newly raised alert. */
  async check(manager: EntityManager, category: string, at: Date): Promise<AlertModel | null> {
    await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`custos.complaint.spike:${category}`]);
    const measured = await this.measure(manager, category, at);
    if (!measured.spike) return null;
    // The alert is read (and held, so an analyst's close waits for this filing) with the spike: once it is
    // CLOSED, the spike goes on under a new SYSTEMIC alert rather than counting on one nobody looks at.
    const [running] = (await manager.query(
      `SELECT s.id, s.alert_id, a.status AS alert_status FROM complaint_spike s JOIN alert a ON a.id = s.alert_id
        WHERE s.category = $1 AND s.last_seen_at > $2::timestamptz - make_interval(hours => $3::int)
        ORDER BY s.last_seen_at DESC LIMIT 1 FOR UPDATE OF s FOR SHARE OF a`,
      [category, at.toISOString(), this.settings.spike.windowHours],
    )) as Array<{ id: string; alert_id: string; alert_status: string }>;
    if (running && running.alert_status !== AlertStatus.CLOSED) {
      await manager.query(
        `UPDATE complaint_spike SET last_seen_at = greatest(last_seen_at, $2), peak_count = greatest(peak_count, $3), complaints = complaints + 1 WHERE id = $1`,
        [running.id, at.toISOString(), measured.recent],
      );
      await this.alerts.repeatUnruled(manager, running.alert_id, at);
      return null;
    }
    const alert = await this.alerts.raiseUnruled(manager, { kind: AlertKind.SYSTEMIC, customerId: null, severity: this.settings.spike.severity, occurredAt: at });
    if (running) {
      await manager.query(
        `UPDATE complaint_spike SET alert_id = $2, last_seen_at = greatest(last_seen_at, $3), peak_count = greatest(peak_count, $4), complaints = complaints + 1 WHERE id = $1`,
        [running.id, alert.id, at.toISOString(), measured.recent],
      );
      return alert;
    }
    await manager.query(
      `INSERT INTO complaint_spike (category, alert_id, started_at, last_seen_at, peak_count, trailing_daily_average) VALUES ($1, $2, $3, $3, $4, $5)`,
      [category, alert.id, at.toISOString(), measured.recent, measured.trailingDailyAverage.toFixed(4)],
    );
    return alert;
  }
}
