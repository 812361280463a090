import { randomBytes } from 'node:crypto';
import { configuredBucket, partnerEventsBucket, RATE_LIMITS } from '../common/rate-limit/rate-limits';
import { loadConfig } from './config';

const key = () => randomBytes(32).toString('base64');
const base = { NODE_ENV: 'production', DATABASE_URL: 'postgres://app@db:5432/custos', PII_KEYS: `v1:${key()}`, BLIND_INDEX_KEY: key(), TOKEN_SECRET: key(), AUDIT_CHAIN_KEY: key() };

describe('loadConfig: identity rate limits and lockout', () => {
  it('defaults to the SPEC figures', () => {
    const c = loadConfig(base);
    expect(c.rateLimits).toEqual({ staffOperations: 600, partnerOperations: 6000, signInPerIp: 60, unauthenticatedPerIp: 60, blindIndexLookups: 60, partnerEventsExternal: 100_000, partnerEventsInternal: 3_000_000, customerOtpResend: 3 });
    expect(c.lockout).toEqual({ ipFailures: 100, accountFailures: 10, windowMs: 15 * 60_000, lockMs: 15 * 60_000 });
  });

  it('reads LOGIN_LOCK_MINUTES (default 30, 1 minute to a week)', () => {
    expect(loadConfig(base).loginLockMs).toBe(30 * 60_000);
    expect(loadConfig({ ...base, LOGIN_LOCK_MINUTES: '5' }).loginLockMs).toBe(5 * 60_000);
    expect(() => loadConfig({ ...base, LOGIN_LOCK_MINUTES: '0' })).toThrow(/LOGIN_LOCK_MINUTES/);
    expect(() => loadConfig({ ...base, LOGIN_LOCK_MINUTES: '10081' })).toThrow(/LOGIN_LOCK_MINUTES/);
  });

  it('reads overrides and refuses invalid values', () => {
    const c = loadConfig({ ...base, RATE_LIMIT_STAFF_OPERATIONS_PER_MINUTE: '3', LOCKOUT_ACCOUNT_FAILURES: '5', LOCKOUT_DURATION_MINUTES: '30' });
    expect(c.rateLimits.staffOperations).toBe(3);
    expect(c.lockout).toMatchObject({ accountFailures: 5, lockMs: 30 * 60_000 });
    expect(() => loadConfig({ ...base, RATE_LIMIT_SIGN_IN_PER_IP_PER_MINUTE: '0' })).toThrow(/RATE_LIMIT_SIGN_IN_PER_IP_PER_MINUTE/);
    expect(() => loadConfig({ ...base, LOCKOUT_IP_FAILURES: 'many' })).toThrow(/LOCKOUT_IP_FAILURES/);
  });

  it('turns the configured figures into the buckets the limiter counts against (name and window unchanged)', () => {
    const c = loadConfig({ ...base, RATE_LIMIT_BLIND_INDEX_LOOKUPS_PER_MINUTE: '7', RATE_LIMIT_PARTNER_EVENTS_EXTERNAL_PER_MINUTE: '40', RATE_LIMIT_PARTNER_EVENTS_INTERNAL_PER_MINUTE: '900' });
    expect(configuredBucket(RATE_LIMITS.blindIndexLookups, c.rateLimits.blindIndexLookups)).toEqual({ name: 'blind-index', limit: 7, windowMs: 60_000 });
    expect(partnerEventsBucket('EXTERNAL', null, c.rateLimits)).toEqual({ name: 'partner-events-ext', limit: 40, windowMs: 60_000 });
    expect(partnerEventsBucket('INTERNAL', null, c.rateLimits)).toEqual({ name: 'partner-events-int', limit: 900, windowMs: 60_000 });
    // A partner's own eventsPerMinute beats the configured default.
    expect(partnerEventsBucket('INTERNAL', 25, c.rateLimits).limit).toBe(25);
    // The defaults are the SPEC figures.
    const d = loadConfig(base);
    expect(partnerEventsBucket('EXTERNAL', undefined, d.rateLimits).limit).toBe(100_000);
    expect(partnerEventsBucket('INTERNAL', undefined, d.rateLimits).limit).toBe(3_000_000);
    expect(configuredBucket(RATE_LIMITS.blindIndexLookups, d.rateLimits.blindIndexLookups).limit).toBe(60);
  });
});
