import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
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
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly tx: TransactionService,
    private readonly risk: RiskService,
    private readonly warnings: EarlyWarningsService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .catch((error: unknown) => this.logger.warn(`risk refresh failed: ${(error as Error).message}`))
        .finally(() => (this.running = undefined));
    }, RISK_REFRESH_INTERVAL_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
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
