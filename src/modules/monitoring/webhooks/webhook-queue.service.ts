import { Inject, Injectable, Logger } from '@nestjs/common';
import PgBoss from 'pg-boss';
import { DataSource, type EntityManager } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import { WEBHOOK_SETTINGS } from './webhooks.settings';

/** The webhook queue as pg-boss creates it (nothing happens when it exists already). */
const QUEUE_OPTIONS: PgBoss.Queue = {
  name: WEBHOOK_SETTINGS.queue, policy: 'standard', ...WEBHOOK_SETTINGS.jobRetry, expireInSeconds: WEBHOOK_SETTINGS.jobExpireSeconds,
};

/**
 * Installs (or migrates) pg-boss's schema and creates the webhook queue, then disconnects. `npm run
 * migration:run` does this too, so that a deployment whose application role owns nothing and may not
 * create schemas (docs/AUDIT.md, "Least-privilege database roles") finds the queue ready; on start the
 * service then only checks that it is.
 */
export async function installJobQueue(url: string): Promise<void> {
  const boss = new PgBoss({ connectionString: url, schema: WEBHOOK_SETTINGS.queueSchema, max: 1, migrate: true, supervise: false, schedule: false });
  let failure: Error | undefined;
  boss.on('error', (error: Error) => void (failure ??= error));
  await boss.start();
  try {
    await boss.createQueue(WEBHOOK_SETTINGS.queue, QUEUE_OPTIONS);
  } finally {
    await boss.stop({ graceful: false, wait: true });
  }
  if (failure) throw failure;
}

/** One delivery attempt of one outbox row. */
export interface DeliveryJob {
  outboxId: string;
  /** 1-based; a job whose attempt no longer matches the row is stale and does nothing. */
  attempt: number;
}

/**
 * The job queue webhook attempts travel on: pg-boss (a maintained PostgreSQL queue, SKIP LOCKED under the
 * hood) in the application database, so it behaves the same on the embedded PGlite, in tests and in
 * production, and spreads attempts over every running instance. Jobs are inserted through the caller's
 * EntityManager — inside the transaction that writes the outbox row — so a job exists exactly when its
 * row committed: nothing to relay after commit, nothing lost if the process dies in between.
 */
@Injectable()
export class WebhookQueue {
  private readonly logger = new Logger('WebhookQueue');
  private readonly boss: PgBoss;
  private readonly pollingIntervalMs: number;
  private running = false;
  private readonly loops: Array<Promise<void>> = [];
  private readonly sleepers = new Set<() => void>();

  constructor(@Inject(APP_CONFIG) config: AppConfig, dataSource: DataSource) {
    // The resolved URL (DATABASE_URL or the embedded server's), as the data source was built with it.
    const { url } = dataSource.options as PostgresConnectionOptions;
    if (!url) throw new Error('WebhookQueue needs the data source URL');
    this.pollingIntervalMs = config.nodeEnv === 'test' ? WEBHOOK_SETTINGS.pollingIntervalMs.test : WEBHOOK_SETTINGS.pollingIntervalMs.default;
    this.boss = new PgBoss({
      connectionString: url,
      schema: WEBHOOK_SETTINGS.queueSchema,
      max: WEBHOOK_SETTINGS.queuePoolSize,
      application_name: 'custos-jobs',
      // pg-boss installs (or migrates) its own schema on start, under an advisory lock.
      migrate: true,
      // Expiry of stuck jobs and archiving; no cron scheduling is used.
      supervise: true,
      schedule: false,
    });
    // Without a listener an 'error' event would crash the process; these are connection or polling errors.
    this.boss.on('error', (error: Error) => this.logger.warn(`job queue: ${error.message}`));
  }

  /**
   * Installs the schema if needed, creates the queue and starts `WEBHOOK_SETTINGS.workers` worker loops.
   * The loops are ours (pg-boss `fetch` / `complete` / `fail`) rather than `boss.work()`: shutdown then
   * knows exactly when the last attempt has finished and leaves no timer behind, and `wake()` is immediate.
   */
  async start(handler: (job: DeliveryJob) => Promise<unknown>): Promise<void> {
    await this.boss.start();
    await this.boss.createQueue(WEBHOOK_SETTINGS.queue, QUEUE_OPTIONS);
    this.running = true;
    for (let i = 0; i < WEBHOOK_SETTINGS.workers; i++) this.loops.push(this.workLoop(handler));
  }

  /**
   * Wakes this instance's idle workers at once instead of at their next poll; called after a commit that
   * queued jobs, so the first attempt does not wait for the polling interval. (Other instances poll.)
   */
  wake(): void {
    for (const wakeUp of [...this.sleepers]) wakeUp();
  }

  /** Stops taking jobs, waits (bounded) for the attempts in flight, then closes pg-boss's pool. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, WEBHOOK_SETTINGS.shutdownTimeoutMs)));
    await Promise.race([Promise.allSettled(this.loops), deadline]);
    clearTimeout(timer);
    await this.boss.stop({ graceful: true, wait: true, timeout: 1_000 });
  }

  private async workLoop(handler: (job: DeliveryJob) => Promise<unknown>): Promise<void> {
    while (this.running) {
      // pg-boss's fetch claims with FOR UPDATE SKIP LOCKED (so instances never share a job) and returns [] on error.
      const [job] = await this.boss.fetch<DeliveryJob>(WEBHOOK_SETTINGS.queue, { batchSize: 1 });
      if (!job) {
        await this.sleep(this.pollingIntervalMs);
        continue;
      }
      try {
        await handler(job.data);
        await this.boss.complete(WEBHOOK_SETTINGS.queue, job.id);
      } catch (error) {
        // An infrastructure failure (not a receiver's answer): pg-boss retries the job per jobRetry.
        this.logger.warn(`webhook job ${job.id} failed: ${(error as Error).message}`);
        await this.boss.fail(WEBHOOK_SETTINGS.queue, job.id, { message: (error as Error).message }).catch(() => undefined);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  /**
   * Adds an attempt job through `manager`: inside a transaction the job commits or rolls back with it.
   * `startAfter` delays the attempt (a retry's backoff).
   */
  async enqueue(manager: EntityManager, job: DeliveryJob, startAfter?: Date): Promise<void> {
    const id = await this.boss.send(WEBHOOK_SETTINGS.queue, job, { db: throughManager(manager), ...(startAfter ? { startAfter } : {}), ...JOB_OPTIONS });
    // Only when the queue is missing (pg-boss never started on this database): the sweeper re-enqueues later.
    if (!id) this.logger.warn(`webhook delivery ${job.outboxId} was not queued; the sweeper will retry it`);
  }

  /**
   * Attempts due now for many deliveries (a batch of events' outbox rows, a sweep) in one statement, through
   * `manager` like `enqueue`. A job pg-boss cannot place (no queue yet) is left to the sweeper, as with `enqueue`.
   */
  async enqueueMany(manager: EntityManager, jobs: readonly DeliveryJob[]): Promise<void> {
    if (jobs.length === 1) return this.enqueue(manager, jobs[0]);
    if (!jobs.length) return;
    await this.boss.insert(jobs.map((data) => ({ name: WEBHOOK_SETTINGS.queue, data, ...JOB_OPTIONS })), { db: throughManager(manager) });
  }
}

/** pg-boss options of every attempt job: its own retries (infrastructure failures) and expiry. */
const JOB_OPTIONS = { ...WEBHOOK_SETTINGS.jobRetry, expireInSeconds: WEBHOOK_SETTINGS.jobExpireSeconds };

/** pg-boss's `db` option sending through `manager`, so a job commits or rolls back with the caller's transaction. */
function throughManager(manager: EntityManager): { executeSql: (text: string, values: unknown[]) => Promise<{ rows: unknown[] }> } {
  return { executeSql: async (text, values) => ({ rows: (await manager.query(text, values)) as unknown[] }) };
}
