import { DataSource } from 'typeorm';
import { loadConfig } from '../config/config';
import { createMissingEventPartitions, monthsAhead } from '../modules/monitoring/events/event-partitions.service';
import { installRecurringJobs } from '../common/jobs/recurring-jobs.service';
import { installJobQueue } from '../modules/monitoring/webhooks/webhook-queue.service';
import { dataSourceOptions } from './data-source-options';
import { startEmbeddedPostgres } from './embedded-postgres';
import { runMigrations } from './migrate';

/**
 * `npm run migration:run`: the same migrations `npm start` applies, against DATABASE_URL or the embedded
 * database; then the job queue's schema and the monthly event partitions ahead. Run as the tables' owner,
 * it leaves the service nothing that needs DDL, so the service can run as a role that owns and creates
 * nothing (docs/AUDIT.md, "Least-privilege database roles"). Run it again within a year to keep partitions
 * ahead; the service's own daily job does that only when it owns `event`.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env, { warn: (m) => console.warn(m) });
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres(config.dataDir);
  try {
    const url = config.databaseUrl ?? embedded!.url;
    const applied = await runMigrations(url);
    console.log(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'No pending migrations.');
    await installJobQueue(url);
    await installRecurringJobs(url);
    console.log('Job queue ready (webhook delivery, recurring jobs).');
    const dataSource = new DataSource(dataSourceOptions(url, { extra: { max: 1 } }));
    await dataSource.initialize();
    try {
      const run = await dataSource.transaction((manager) => createMissingEventPartitions(manager, monthsAhead(new Date(), config.eventPartitionsAheadMonths)));
      const created = run?.created.map((p) => p.name) ?? [];
      console.log(run === null ? 'Event partitions: another run holds the lock.' : `Event partitions: ${created.length ? `created ${created.join(', ')}` : 'none missing'}.`);
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await embedded?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(`migration failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
