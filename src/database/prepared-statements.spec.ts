import { DatabaseError } from 'pg';
import { mustPrepareAgain } from './prepared-statements';

const serverError = (code: string, message: string, routine?: string): DatabaseError =>
  Object.assign(new DatabaseError(message, message.length, 'error'), { code, routine });

describe('mustPrepareAgain', () => {
  it('renames after a stale plan whatever language the server reports it in', () => {
    expect(mustPrepareAgain(serverError('0A000', 'cached plan must not change result type', 'RevalidateCachedQuery'))).toBe(true);
    expect(mustPrepareAgain(serverError('0A000', 'gespeicherter Plan darf den Ergebnistyp nicht ändern', 'RevalidateCachedQuery'))).toBe(true);
  });

  it('renames after the session lost its statements, and after a failure on this side', () => {
    expect(mustPrepareAgain(serverError('26000', 'prepared statement "custos_x" does not exist', 'FetchPreparedStatement'))).toBe(true);
    expect(mustPrepareAgain(new TypeError('Converting circular structure to JSON'))).toBe(true);
    expect(mustPrepareAgain(serverError('42P05', 'prepared statement "custos_x" already exists', 'StorePreparedStatement'))).toBe(true);
  });

  it('keeps the statement after ordinary server errors, other unsupported features included', () => {
    expect(mustPrepareAgain(serverError('23505', 'duplicate key value violates unique constraint "x"', '_bt_check_unique'))).toBe(false);
    expect(mustPrepareAgain(serverError('22012', 'division by zero', 'int4div'))).toBe(false);
    expect(mustPrepareAgain(serverError('0A000', 'FOR UPDATE is not allowed with GROUP BY clause', 'CheckSelectLocking'))).toBe(false);
  });
});
