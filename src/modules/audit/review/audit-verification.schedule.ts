import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { AUDIT_LOCKS, AUDIT_SETTINGS } from '../audit.settings';
import { AuditReviewService } from './audit-review.service';

/**
 * Verifies the whole chain periodically, so a break raises CHAIN_INVALID even when no reviewer asks.
 * With several instances, a session advisory lock lets one of them run at a time (the others skip).
 */
@Injectable()
export class AuditVerificationSchedule implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('AuditVerification');
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataSource: DataSource,
    private readonly review: AuditReviewService,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => {
      this.running = this.running
        .then(() => this.runExclusive())
        .then(() => undefined, (error: unknown) => this.logger.error(error));
    }, AUDIT_SETTINGS.verification.intervalMs);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One verification if no other instance is running one; false when skipped. */
  async runExclusive(): Promise<boolean> {
    // A session lock needs one connection for lock and unlock; the verification itself uses the pool.
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [AUDIT_LOCKS.verification])) as Array<{ locked: boolean }>;
      if (!locked) return false;
      try {
        const report = await this.review.verifyAndAlert({});
        await this.audit.record({
          action: 'audit.verify',
          outcome: 'SUCCESS',
          resourceType: 'AuditLog',
          actor: { type: 'SYSTEM' },
          details: { scheduled: true, valid: report.valid, checked: report.checked, firstInvalidId: report.firstInvalidId, reason: report.reason },
        });
        return true;
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [AUDIT_LOCKS.verification]);
      }
    } finally {
      await runner.release();
    }
  }
}
