import { randomBytes } from 'node:crypto';
import { loadConfig } from './config';

const key = () => randomBytes(32).toString('base64');
const base = { NODE_ENV: 'production', DATABASE_URL: 'postgres://app@db:5432/custos', PII_KEYS: `v1:${key()}`, BLIND_INDEX_KEY: key(), TOKEN_SECRET: key(), AUDIT_CHAIN_KEY: key() };

describe('loadConfig: identity rate limits and lockout', () => {
  it('defaults to the SPEC figures', () => {
    const c = loadConfig(base);
    expect(c.rateLimits).toEqual({ staffOperations: 600, partnerOperations: 6000, signInPerIp: 60, blindIndexLookups: 60, partnerEventsExternal: 100_000, partnerEventsInternal: 3_000_000 });
    expect(c.lockout).toEqual({ ipFailures: 100, accountFailures: 10, windowMs: 15 * 60_000, lockMs: 15 * 60_000 });
  });

  it('reads overrides and refuses invalid values', () => {
    const c = loadConfig({ ...base, RATE_LIMIT_STAFF_OPERATIONS_PER_MINUTE: '3', LOCKOUT_ACCOUNT_FAILURES: '5', LOCKOUT_DURATION_MINUTES: '30' });
    expect(c.rateLimits.staffOperations).toBe(3);
    expect(c.lockout).toMatchObject({ accountFailures: 5, lockMs: 30 * 60_000 });
    expect(() => loadConfig({ ...base, RATE_LIMIT_SIGN_IN_PER_IP_PER_MINUTE: '0' })).toThrow(/RATE_LIMIT_SIGN_IN_PER_IP_PER_MINUTE/);
    expect(() => loadConfig({ ...base, LOCKOUT_IP_FAILURES: 'many' })).toThrow(/LOCKOUT_IP_FAILURES/);
  });
});
