import { Injectable } from '@nestjs/common';
import { Severity } from '../monitoring/models/monitoring.enums';

const HOUR_MS = 3_600_000;

/** SPEC §5 defaults: the categories a complaint may carry. */
export const DEFAULT_COMPLAINT_CATEGORIES = ['PRODUCT_QUALITY', 'SERVICE', 'BILLING', 'FRAUD_REPORT', 'DATA_PRIVACY', 'RETURN_REFUND', 'OTHER'] as const;

/** SPEC §5 defaults, in calendar hours from `receivedAt`: acknowledge / resolve. */
export const DEFAULT_SLA_HOURS: Readonly<Record<Severity, { acknowledge: number; resolve: number }>> = {
  CRITICAL: { acknowledge: 1, resolve: 24 },
  HIGH: { acknowledge: 4, resolve: 72 },
  MEDIUM: { acknowledge: 24, resolve: 7 * 24 },
  LOW: { acknowledge: 48, resolve: 14 * 24 },
};

/** The category that also becomes a COMPLAINT event for the rules. */
export const FRAUD_REPORT = 'FRAUD_REPORT';

/**
 * What a deployment may tune about complaints: the category list, the SLA table, the spike rule and the
 * sweep. An injectable object (like the webhook retry policy) so that a module or a test replaces values
 * in one place (`app.get(ComplaintSettings)`); services read it at call time, never copy it.
 */
@Injectable()
export class ComplaintSettings {
  categories: string[] = [...DEFAULT_COMPLAINT_CATEGORIES];
  sla: Record<Severity, { acknowledge: number; resolve: number }> = structuredClone(DEFAULT_SLA_HOURS) as Record<Severity, { acknowledge: number; resolve: number }>;
  /**
   * A category whose count in the last `windowHours` exceeds `factor` × its daily average over the
   * `trailingDays` before that window, with at least `minCount` complaints, is a spike (SYSTEMIC alert).
   */
  spike = { windowHours: 24, trailingDays: 7, factor: 3, minCount: 5, severity: Severity.HIGH };
  /** How many complaints one SLA sweep transaction takes (its schedule: RECURRING_JOBS, every minute). */
  sweep = { batchSize: 100 };

  isCategory(code: string): boolean {
    return this.categories.includes(code);
  }

  /** Deadlines for a complaint of `severity` received at `receivedAt` (calendar hours, no business calendar). */
  deadlines(severity: Severity, receivedAt: Date): { acknowledgeBy: Date; resolveBy: Date } {
    const hours = this.sla[severity];
    return {
      acknowledgeBy: new Date(receivedAt.getTime() + hours.acknowledge * HOUR_MS),
      resolveBy: new Date(receivedAt.getTime() + hours.resolve * HOUR_MS),
    };
  }
}
