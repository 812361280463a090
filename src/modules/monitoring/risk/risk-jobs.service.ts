import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { PeriodicJob } from '../../../common/jobs/periodic-job';
import { TransactionService } from '../../../database/transaction.service';
import { EarlyWarningsService } from './early-warnings.service';
import { RiskService } from './risk.service';

/** How often the periodic risk work runs (churn warnings, stale scores). */
export const RISK_REFRESH_INTERVAL_MS = 60 * 60_000;

/**
 * The periodic part of risk and early warning: CHURN_RISK needs time to pass, not an event, and account age
 * changes the score by itself. An unref'd interval timer (it never keeps the process alive), stopped on
 * shutdown; one instance at a time does the work (a transaction-scoped advisory lock), so several
 * instances may run it. Both steps are idempotent, and `runOnce()` can be called on demand.
 */
@Injectable()
export class RiskJobs implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('RiskJobs');
  private readonly job = new PeriodicJob('risk refresh', this.logger, () => this.runOnce());

  constructor(
    private readonly tx: TransactionService,
    private readonly risk: RiskService,
    private readonly warnings: EarlyWarningsService,
  ) {}

  onApplicationBootstrap(): void {
    this.job.start(RISK_REFRESH_INTERVAL_MS);
  }

  async onModuleDestroy(): Promise<void> {
    await this.job.stop();
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
