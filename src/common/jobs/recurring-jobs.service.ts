import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import PgBoss from 'pg-boss';
import { DataSource } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import type { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';

/** The schema pg-boss keeps its tables in (the webhook queue's too). */
const JOB_SCHEMA = 'pgboss';

/**
 * The recurring jobs and their schedules (UTC cron). Listed here, not by their modules, so that
 * `npm run migration:run` can create their queues and schedules as the owner (`installRecurringJobs`):
 * a least-privilege application role may not create the tables pg-boss makes per queue.
 */
export const RECURRING_JOBS = {
  /** The complaint SLA sweep (ComplaintSlaJob): every minute. */
  'complaint-sla-sweep': '* * * * *',
  /** The risk refresh (RiskJobs: churn warnings, stale scores): hourly, at minute 7. */
  'risk-refresh': '7 * * * *',
} as const;
export type RecurringJobName = keyof typeof RECURRING_JOBS;

/** A recurring job's queue: `singleton` runs one job at a time; a failed run is retried twice, 30 s apart. */
const queueOptions = (name: string): PgBoss.Queue => ({ name, policy: 'singleton', retryLimit: 2, retryDelay: 30, expireInSeconds: 15 * 60 });

/** Creates the recurring jobs' queues and schedules (and pg-boss's cron queue), then disconnects. Idempotent. */
export async function installRecurringJobs(url: string): Promise<void> {
  const boss = new PgBoss({ connectionString: url, schema: JOB_SCHEMA, max: 1, migrate: true, supervise: false, schedule: true });
  let failure: Error | undefined;
  boss.on('error', (error: Error) => void (failure ??= error));
  await boss.start();
  try {
    for (const [name, cron] of Object.entries(RECURRING_JOBS)) {
      await boss.createQueue(name, queueOptions(name));
      await boss.schedule(name, cron, {}, { tz: 'UTC' });
    }
  } finally {
    await boss.stop({ graceful: false, wait: true });
  }
  if (failure) throw failure;
}

interface Recurring {
  name: RecurringJobName;
  run: () => Promise<unknown>;
}

/**
 * Recurring follow-up work (the complaint SLA sweep, the risk refresh) on the job queue, as SPEC §3 asks:
 * pg-boss in the application database. Each job has a cron schedule kept in the database, so the whole
 * deployment runs it once per tick, on whichever instance fetches it first, whatever the number of
 * instances; a queue with the `singleton` policy never runs two at once; a run that fails is retried by
 * pg-boss and logged. Services register in their `onModuleInit`; the queue starts once every module is
 * initialised and stops (waiting for the run in flight) on shutdown. The work itself stays idempotent
 * and can still be called directly (tests pass their own clock).
 */
@Injectable()
export class RecurringJobs implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('RecurringJobs');
  private readonly jobs: Recurring[] = [];
  private boss?: PgBoss;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly dataSource: DataSource,
  ) {}

  /** Runs `run` on the job's schedule (RECURRING_JOBS), once per tick across all instances. Call before start-up ends. */
  register(name: RecurringJobName, run: () => Promise<unknown>): void {
    if (this.boss) throw new Error(`recurring job ${name} registered after start-up`);
    this.jobs.push({ name, run });
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.jobs.length) return;
    const { url } = this.dataSource.options as PostgresConnectionOptions;
    if (!url) throw new Error('RecurringJobs needs the data source URL');
    const boss = new PgBoss({
      connectionString: url,
      schema: JOB_SCHEMA,
      max: 2,
      application_name: 'custos-recurring',
      migrate: true,
      // The webhook queue's instance does the maintenance (expiry, archiving) for the whole schema.
      supervise: false,
      schedule: true,
    });
    boss.on('error', (error: Error) => this.logger.warn(`recurring jobs: ${error.message}`));
    this.boss = boss;
    await boss.start();
    for (const job of this.jobs) {
      // Both are no-ops when `npm run migration:run` made them (the only way for a role that creates nothing).
      await boss.createQueue(job.name, queueOptions(job.name));
      await boss.schedule(job.name, RECURRING_JOBS[job.name], {}, { tz: 'UTC' });
      await boss.work(job.name, { pollingIntervalSeconds: this.config.nodeEnv === 'test' ? 1 : 5 }, async () => {
        try {
          await job.run();
        } catch (error) {
          this.logger.warn(`${job.name} failed (pg-boss retries it): ${(error as Error).message}`);
          throw error;
        }
      });
    }
  }

  /** Queues one run now, besides the schedule (an operator's nudge, or a test): the job's worker takes it. */
  async runSoon(name: RecurringJobName): Promise<void> {
    if (!this.boss) throw new Error('the job queue is not started');
    if (!this.jobs.some((j) => j.name === name)) throw new Error(`no recurring job ${name}`);
    await this.boss.send(name, {});
  }

  async onModuleDestroy(): Promise<void> {
    await this.boss?.stop({ graceful: true, wait: true, timeout: 15_000 });
  }
}
