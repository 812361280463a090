import { randomBytes } from 'node:crypto';
import { loadConfig } from './config';

const key = () => randomBytes(32).toString('base64');
const base = { NODE_ENV: 'production', DATABASE_URL: 'postgres://app@db:5432/custos', PII_KEYS: `v1:${key()}`, BLIND_INDEX_KEY: key(), TOKEN_SECRET: key(), AUDIT_CHAIN_KEY: key() };

describe('loadConfig: database timeouts', () => {
  it('defaults to 30 s per statement, 60 s idle in a transaction, 10 s to get a pooled connection', () => {
    expect(loadConfig(base).databaseTimeouts).toEqual({ statementMs: 30_000, idleInTransactionMs: 60_000, poolAcquireMs: 10_000 });
  });

  it('reads overrides, 0 meaning none, and refuses negative or non-integer values', () => {
    const c = loadConfig({ ...base, DATABASE_STATEMENT_TIMEOUT_MS: '1500', DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '0', DATABASE_POOL_ACQUIRE_TIMEOUT_MS: '250' });
    expect(c.databaseTimeouts).toEqual({ statementMs: 1500, idleInTransactionMs: 0, poolAcquireMs: 250 });
    // Empty (compose's `${VAR:-}`) is unset: the default.
    expect(loadConfig({ ...base, DATABASE_STATEMENT_TIMEOUT_MS: '' }).databaseTimeouts.statementMs).toBe(30_000);
    for (const name of ['DATABASE_STATEMENT_TIMEOUT_MS', 'DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS', 'DATABASE_POOL_ACQUIRE_TIMEOUT_MS']) {
      for (const bad of ['-1', '1.5', '30s']) expect(() => loadConfig({ ...base, [name]: bad })).toThrow(new RegExp(`^${name} `));
    }
  });
});
