import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { PipeliningClient } from './pipelining-client';
import { PREPARED_CONNECTION_LIFETIME_SECONDS, PreparingClient } from './prepared-statements';

/**
 * One definition of the TypeORM connection, shared by the app, the migration CLI and the tests.
 * Entities and migrations are found by glob next to this file so that every module can add its own.
 * `synchronize` is off: the schema changes only through reviewed migrations.
 */
export function dataSourceOptions(url: string, overrides: Partial<DataSourceOptions> = {}): DataSourceOptions {
  return { ...baseOptions(url), ...overrides } as DataSourceOptions;
}

/** How the serving app talks to a real PostgreSQL server (the embedded PGlite gets neither). */
export interface ServerProtocolOptions {
  /** Send BEGIN with a transaction's first statement and held statements with its COMMIT (./pipelining-client.ts). */
  pipelining: boolean;
  /** Name parameterised statements (./prepared-statements.ts; implies pipelining), connections renewed hourly. */
  preparedStatements: boolean;
}

/** The serving app's connection: as `dataSourceOptions`, with the pool's clients chosen by `protocol`. */
export function appDataSourceOptions(url: string, { pipelining, preparedStatements }: ServerProtocolOptions): DataSourceOptions {
  const base = baseOptions(url);
  const extra = (base as { extra: object }).extra;
  if (preparedStatements) return { ...base, extra: { ...extra, Client: PreparingClient, maxLifetimeSeconds: PREPARED_CONNECTION_LIFETIME_SECONDS } } as DataSourceOptions;
  if (pipelining) return { ...base, extra: { ...extra, Client: PipeliningClient } } as DataSourceOptions;
  return base;
}

function baseOptions(url: string): DataSourceOptions {
  const root = join(__dirname, '..', '..');
  const ext = __filename.endsWith('.ts') ? 'ts' : 'js';
  return {
    type: 'postgres',
    url,
    // PGlite has no pgcrypto/uuid-ossp extensions; this makes TypeORM emit gen_random_uuid() (core since PG 13).
    uuidExtension: 'pgcrypto',
    entities: [join(root, 'src', '**', `*.entity.${ext}`)],
    migrations: [join(root, 'migrations', `*.${ext}`)],
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    extra: { max: 20, idleTimeoutMillis: 30_000, application_name: 'custos' },
  } as DataSourceOptions;
}
