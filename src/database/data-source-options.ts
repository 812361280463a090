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
  /** The pool's timeouts (DATABASE_*_TIMEOUT_MS); none when absent. */
  timeouts?: DatabaseTimeouts;
}

/** Milliseconds; 0 means none. */
export interface DatabaseTimeouts {
  /** The server cancels a statement running longer (57014), lock waits included. */
  statementMs: number;
  /** The server ends a session idle inside a transaction longer (25P03), releasing its locks. */
  idleInTransactionMs: number;
  /** A checkout waits this long for a free connection, or for a new one to open, then fails. */
  poolAcquireMs: number;
}

/**
 * The serving app's connection: as `dataSourceOptions`, with the pool's clients chosen by `protocol` and its
 * timeouts applied. Only this pool gets them: migrations, the CLIs (`keys:rotate`, `audit:anchor`,
 * `migration:run`) and pg-boss's own pool build their connections from `dataSourceOptions` or their own
 * settings and run without a statement timeout.
 */
export function appDataSourceOptions(url: string, { pipelining, preparedStatements, timeouts }: ServerProtocolOptions): DataSourceOptions {
  const base = baseOptions(url);
  const extra = { ...(base as { extra: object }).extra, ...(timeouts ? poolTimeouts(timeouts) : {}) };
  if (preparedStatements) return { ...base, extra: { ...extra, Client: PreparingClient, maxLifetimeSeconds: PREPARED_CONNECTION_LIFETIME_SECONDS } } as DataSourceOptions;
  if (pipelining) return { ...base, extra: { ...extra, Client: PipeliningClient } } as DataSourceOptions;
  return { ...base, extra } as DataSourceOptions;
}

/**
 * pg-pool and pg client settings for `timeouts`. The two server-side timeouts travel as parameters of the
 * connection's startup message (pg's `statement_timeout` and `idle_in_transaction_session_timeout`, the
 * same as `options=-c …` without overwriting an `options` the URL or PGOPTIONS carries): set for the whole
 * session with no extra round trip, whichever client class the pool uses, and still overridable per
 * transaction (`SET LOCAL statement_timeout`). A zero leaves the parameter out (the server's or role's
 * default applies — the way to go behind a pooler that refuses unknown startup parameters). The embedded
 * PGlite's socket server accepts and ignores startup parameters, so there only the acquire timeout applies.
 */
export function poolTimeouts({ statementMs, idleInTransactionMs, poolAcquireMs }: DatabaseTimeouts): Record<string, number> {
  return {
    ...(statementMs > 0 ? { statement_timeout: statementMs } : {}),
    ...(idleInTransactionMs > 0 ? { idle_in_transaction_session_timeout: idleInTransactionMs } : {}),
    // pg-pool: also bounds opening a new connection (an unreachable server fails instead of hanging).
    ...(poolAcquireMs > 0 ? { connectionTimeoutMillis: poolAcquireMs } : {}),
  };
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
