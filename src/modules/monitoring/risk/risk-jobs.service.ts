import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { RecurringJobs } from '../../../common/jobs/recurring-jobs.service';
import { TransactionService } from '../../../database/transaction.service';
import { EarlyWarningsService } from './early-warnings.service';
import { RiskService } from './risk.service';

/** Stale customers rescored per transaction by the periodic refresh. */
export const REFRESH_BATCH = 200;

/**
 * The periodic part of risk and early warning: CHURN_RISK needs time to pass, not an event, and account age
 * changes the score by itself. A recurring job on the job queue (RecurringJobs: once an hour for the whole
 * deployment); a transaction-scoped advisory lock still keeps an on-demand run and a scheduled one apart.
 * Both steps are idempotent, and `runOnce()` can be called on demand.
 */
@Injectable()
export class RiskJobs implements OnModuleInit {
  constructor(
    private readonly tx: TransactionService,
    private readonly risk: RiskService,
    private readonly warnings: EarlyWarningsService,
    private readonly jobs: RecurringJobs,
  ) {}

  onModuleInit(): void {
    this.jobs.register('risk-refresh', () => this.runOnce());
  }

  /**
   * Returns null when another instance holds the lock. The churn refresh is one transaction; the stale
   * scores are walked in batches of REFRESH_BATCH, one transaction each (row locks held briefly), until
   * every stale customer was visited — not one capped batch an hour, which left a bulk onboarding unscored
   * for a day. Each batch takes the lock again, so two instances never walk at once.
   */
  async runOnce(now: Date = new Date()): Promise<{ churn: { raised: number; resolved: number }; rescored: number } | null> {
    const churn = await this.tx.run(async (manager) => ((await this.lock(manager)) ? this.warnings.refreshChurnWarnings(now, manager) : null));
    if (!churn) return null;
    let rescored = 0;
    let after: string | null = null;
    for (;;) {
      const cursor: string | null = after;
      const batch: { count: number; last: string | null } | null = await this.tx.run(async (manager) => ((await this.lock(manager)) ? this.risk.refreshStale(manager, REFRESH_BATCH, cursor) : null));
      if (!batch) break;
      rescored += batch.count;
      if (batch.count < REFRESH_BATCH) break;
      after = batch.last;
    }
    return { churn, rescored };
  }

  private async lock(manager: EntityManager): Promise<boolean> {
    const [{ locked }] = (await manager.query(`SELECT pg_try_advisory_xact_lock(hashtext('custos.risk.refresh')) AS locked`)) as Array<{ locked: boolean }>;
    return locked;
  }
}
