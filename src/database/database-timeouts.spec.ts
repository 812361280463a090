import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import { ServiceUnavailableError } from '../common/errors/app-error';
import { ErrorCode, HTTP_STATUS } from '../common/errors/error-codes';
import { createErrorFormatter } from '../graphql/format-error';
import { appDataSourceOptions, dataSourceOptions, poolTimeouts } from './data-source-options';
import { PipeliningClient } from './pipelining-client';
import { PreparingClient } from './prepared-statements';

const URL = 'postgres://app@db:5432/custos';
const TIMEOUTS = { statementMs: 30_000, idleInTransactionMs: 60_000, poolAcquireMs: 10_000 };
const extraOf = (o: unknown) => (o as { extra: Record<string, unknown> }).extra;

function pgError(code: string, message: string): DatabaseError {
  const error = new DatabaseError(message, 0, 'error');
  error.code = code;
  return error;
}

describe('database timeouts: the pool', () => {
  it('puts the timeouts on the serving pool only, whichever client class it uses', () => {
    for (const protocol of [
      { pipelining: false, preparedStatements: false },
      { pipelining: true, preparedStatements: false },
      { pipelining: true, preparedStatements: true },
    ]) {
      const extra = extraOf(appDataSourceOptions(URL, { ...protocol, timeouts: TIMEOUTS }));
      expect(extra).toMatchObject({ statement_timeout: 30_000, idle_in_transaction_session_timeout: 60_000, connectionTimeoutMillis: 10_000, max: 20 });
      expect(extra.Client).toBe(protocol.preparedStatements ? PreparingClient : protocol.pipelining ? PipeliningClient : undefined);
    }
    // Migrations, the CLIs and the tests' raw data sources: no timeout of any kind.
    for (const options of [dataSourceOptions(URL), dataSourceOptions(URL, { extra: { max: 1 } })]) {
      const extra = extraOf(options);
      expect(extra).not.toHaveProperty('statement_timeout');
      expect(extra).not.toHaveProperty('idle_in_transaction_session_timeout');
      expect(extra).not.toHaveProperty('connectionTimeoutMillis');
    }
    expect(extraOf(appDataSourceOptions(URL, { pipelining: true, preparedStatements: true }))).not.toHaveProperty('statement_timeout');
  });

  it('leaves out a timeout set to 0 (the server or role default applies; pg-pool waits)', () => {
    expect(poolTimeouts({ statementMs: 0, idleInTransactionMs: 0, poolAcquireMs: 0 })).toEqual({});
    expect(poolTimeouts({ statementMs: 5, idleInTransactionMs: 0, poolAcquireMs: 7 })).toEqual({ statement_timeout: 5, connectionTimeoutMillis: 7 });
  });

  it('sends the server-side ones as startup parameters, beside an `options` the URL carries', () => {
    const extra = extraOf(appDataSourceOptions(`${URL}?options=-c%20search_path%3Dcustos`, { pipelining: true, preparedStatements: true, timeouts: TIMEOUTS }));
    const client = new PreparingClient({ connectionString: `${URL}?options=-c%20search_path%3Dcustos`, ...extra } as never);
    const startup = (client as unknown as { getStartupConf(): Record<string, string> }).getStartupConf();
    expect(startup).toMatchObject({ statement_timeout: '30000', idle_in_transaction_session_timeout: '60000', options: '-c search_path=custos' });
  });
});

describe('database timeouts: SERVICE_UNAVAILABLE', () => {
  it('recognises timeouts, lock waits and a full pool, through the wrappers they arrive in', () => {
    const timeout = pgError('57014', 'canceling statement due to statement timeout');
    expect(ServiceUnavailableError.reasonOf(timeout)).toBe('STATEMENT_TIMEOUT');
    expect(ServiceUnavailableError.reasonOf(new QueryFailedError('UPDATE customer …', [], timeout))).toBe('STATEMENT_TIMEOUT');
    expect(ServiceUnavailableError.reasonOf(pgError('55P03', 'could not obtain lock on row in relation "customer"'))).toBe('LOCK_NOT_AVAILABLE');
    expect(ServiceUnavailableError.reasonOf(pgError('25P03', 'terminating connection due to idle-in-transaction timeout'))).toBe('IDLE_IN_TRANSACTION_TIMEOUT');
    expect(ServiceUnavailableError.reasonOf(new Error('timeout exceeded when trying to connect'))).toBe('POOL_EXHAUSTED');
    expect(ServiceUnavailableError.reasonOf(new Error('Connection terminated due to connection timeout', { cause: new Error('x') }))).toBe('CONNECTION_TIMEOUT');
    expect(ServiceUnavailableError.reasonOf(new Error('wrapped', { cause: timeout }))).toBe('STATEMENT_TIMEOUT');
  });

  it('recognises the database going away: a restart, a failover, a killed session, a refused or broken socket', () => {
    for (const lost of [
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('57P03', 'the database system is starting up'),
      pgError('53300', 'sorry, too many clients already'),
      pgError('08006', 'connection failure'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      new QueryFailedError('SELECT 1', [], new Error('Connection terminated unexpectedly')),
    ]) {
      expect(ServiceUnavailableError.reasonOf(lost)).toBe('DATABASE_UNREACHABLE');
    }
    // Not the database's state: a wrong name or a class-08-looking code that is not a SQLSTATE.
    expect(ServiceUnavailableError.reasonOf(pgError('3D000', 'database "x" does not exist'))).toBeUndefined();
    expect(ServiceUnavailableError.reasonOf({ code: '08' })).toBeUndefined();
    expect(ServiceUnavailableError.reasonOf({ code: 'toString' })).toBeUndefined();
  });

  it('leaves every other error alone', () => {
    for (const other of [
      pgError('23505', 'duplicate key value violates unique constraint'),
      pgError('40P01', 'deadlock detected'),
      new Error('something else'),
      { code: 'timeout exceeded when trying to connect' },
      'timeout exceeded when trying to connect',
      undefined,
      null,
    ]) {
      expect(ServiceUnavailableError.reasonOf(other)).toBeUndefined();
    }
  });

  it('is a 503-class code, retryable, with a hint and no SQL', () => {
    const error = new ServiceUnavailableError('POOL_EXHAUSTED');
    expect(error.extensions).toEqual({ code: ErrorCode.SERVICE_UNAVAILABLE, reason: 'POOL_EXHAUSTED', retryable: true, retryAfterSeconds: 1 });
    expect(HTTP_STATUS[ErrorCode.SERVICE_UNAVAILABLE]).toBe(503);
  });

  it('the error formatter answers SERVICE_UNAVAILABLE instead of INTERNAL_SERVER_ERROR, logging the cause', () => {
    const logged: unknown[] = [];
    const format = createErrorFormatter({ isProduction: true, onInternalError: (e) => logged.push(e) });
    const driverError = pgError('57014', 'canceling statement due to statement timeout');
    const original = new QueryFailedError('SELECT id FROM customer WHERE id = $1 FOR UPDATE', ['c1'], driverError);
    const formatted = format({ message: original.message, path: ['updateCustomer'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }, original);
    expect(formatted).toMatchObject({
      path: ['updateCustomer'],
      extensions: { code: 'SERVICE_UNAVAILABLE', reason: 'STATEMENT_TIMEOUT', retryable: true, retryAfterSeconds: 1 },
    });
    expect(formatted.message).not.toMatch(/customer|statement timeout|SELECT/i);
    expect(logged).toEqual([original]);

    const pool = format({ message: 'timeout exceeded when trying to connect' }, new Error('timeout exceeded when trying to connect'));
    expect(pool.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', reason: 'POOL_EXHAUSTED' });
    // Anything else is still INTERNAL_SERVER_ERROR.
    expect(format({ message: 'boom' }, new Error('boom')).extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
  });
});
