import { Injectable, type OnModuleInit } from '@nestjs/common';
import { RecurringJobs } from '../../../common/jobs/recurring-jobs.service';
import { TransactionService } from '../../../database/transaction.service';
import { EarlyWarningsService } from './early-warnings.service';
import { RiskService } from './risk.service';

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

  /** Returns null when another instance holds the lock. */
  async runOnce(now: Date = new Date()): Promise<{ churn: { raised: number; resolved: number }; rescored: number } | null> {
    return this.tx.run(async (manager) => {
      const [{ locked }] = (await manager.query(`SELECT pg_try_advisory_xact_lock(hashtext('custos.risk.refresh')) AS locked`)) as Array<{ locked: boolean }>;
      if (!locked) return null;
      const churn = await this.warnings.refreshChurnWarnings(now, manager);
      const rescored = await this.risk.refreshStale(manager);
      return { churn, rescored };
    });
  }
}
