import { DataSource, MigrationExecutor } from 'typeorm';
import { dataSourceOptions } from './data-source-options';

/**
 * Session advisory lock key (single bigint) serialising migration runs across instances: "custos" in ASCII
 * (0x637573746f73), above the int4 range so it can meet none of the `hashtext(...)` keys the service uses.
 */
export const MIGRATION_LOCK_KEY = '109356099334003';

/** How long start-up (and `migration:run`) waits for the database to accept its connection. */
export const MIGRATION_CONNECT_TIMEOUT_MS = 30_000;

/**
 * Applies pending migrations, each in its own transaction; returns the names applied.
 *
 * Instances starting together on a new release all call this: they take turns under a session advisory
 * lock held on the one connection that runs the migrations. TypeORM reads the applied list (and creates
 * `schema_migrations` if needed) only once the lock is held, so a run that waited finds nothing pending
 * instead of applying the same migrations again. Works on the embedded PGlite too (advisory locks are
 * supported; its single session makes the lock trivially its own there).
 */
export async function runMigrations(url: string, { connectTimeoutMs = MIGRATION_CONNECT_TIMEOUT_MS }: { connectTimeoutMs?: number } = {}): Promise<string[]> {
  // A single connection: the lock, every migration and the unlock all go through it. No statement or
  // idle-in-transaction timeout applies here (those are the serving app's pool's only). Opening it is
  // bounded, though: a server that accepts the TCP connection and never answers (a half-up host, a wrong
  // port on a proxy) would otherwise hold start-up silent forever.
  const dataSource = new DataSource(dataSourceOptions(url, { extra: { max: 1, application_name: 'custos-migrate', connectionTimeoutMillis: connectTimeoutMs } }));
  await dataSource.initialize();
  const runner = dataSource.createQueryRunner();
  try {
    await runner.connect();
    // Waits for as long as another instance's migrations take; the lock goes with the session if that
    // instance dies.
    await runner.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    try {
      const executor = new MigrationExecutor(dataSource, runner);
      executor.transaction = 'each';
      const applied = await executor.executePendingMigrations();
      return applied.map((m) => m.name);
    } finally {
      // A broken connection has lost the lock with its session already: nothing to release then.
      await runner.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    await runner.release();
    await dataSource.destroy();
  }
}
