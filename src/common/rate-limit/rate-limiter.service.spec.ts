import { Test } from '@nestjs/testing';
import { MemoryRateLimitStore } from './memory.store';
import { RateLimitModule } from './rate-limit.module';
import { RATE_LIMITS, RATE_LIMIT_STORE, RateLimiter, createRateLimitStore, partnerEventsBucket } from './rate-limiter.service';
import { RATE_LIMITS as FROM_RATE_LIMITS_FILE } from './rate-limits';
import { RedisRateLimitStore } from './redis.store';

class TooManyRequests extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many requests, retry in ${retryAfterSeconds}s`);
  }
}

describe('RateLimiter', () => {
  let clock = 0;
  let store: MemoryRateLimitStore;
  let limiter: RateLimiter;

  beforeEach(() => {
    clock = 1_000 * 15 * 60_000;
    store = new MemoryRateLimitStore({ now: () => clock });
    limiter = new RateLimiter(store);
  });
  afterEach(() => store.close());

  it('exports the SPEC defaults', () => {
    expect(RATE_LIMITS.staffOperations).toMatchObject({ limit: 600, windowMs: 60_000 });
    expect(RATE_LIMITS.signInPerIp).toMatchObject({ limit: 60, windowMs: 60_000 });
    expect(RATE_LIMITS.partnerEventsExternal).toMatchObject({ limit: 100_000, windowMs: 60_000 });
    expect(RATE_LIMITS.partnerEventsInternal).toMatchObject({ limit: 3_000_000, windowMs: 60_000 });
    expect(RATE_LIMITS.blindIndexLookups).toMatchObject({ limit: 60, windowMs: 60_000 });
    expect(RATE_LIMITS.customerOtpResend).toMatchObject({ limit: 3, windowMs: 15 * 60_000 });
    expect(FROM_RATE_LIMITS_FILE).toBe(RATE_LIMITS);
    const names = Object.values(RATE_LIMITS).map((b) => b.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('picks a partner\'s events bucket by trust level, honouring its own eventsPerMinute', () => {
    expect(partnerEventsBucket('EXTERNAL')).toBe(RATE_LIMITS.partnerEventsExternal);
    expect(partnerEventsBucket('INTERNAL', null)).toBe(RATE_LIMITS.partnerEventsInternal);
    expect(partnerEventsBucket('EXTERNAL', 250)).toEqual({ name: 'partner-events-ext', limit: 250, windowMs: 60_000 });
  });

  it('counts per bucket and per id', async () => {
    for (let i = 0; i < 3; i += 1) expect((await limiter.consume(RATE_LIMITS.customerOtpResend, 'cust-1')).allowed).toBe(true);
    const refused = await limiter.consume(RATE_LIMITS.customerOtpResend, 'cust-1');
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterSeconds).toBeGreaterThan(15 * 60);
    expect((await limiter.consume(RATE_LIMITS.customerOtpResend, 'cust-2')).allowed).toBe(true);
    // Same id, another bucket: independent.
    expect((await limiter.consume(RATE_LIMITS.blindIndexLookups, 'cust-1')).allowed).toBe(true);

    await limiter.reset(RATE_LIMITS.customerOtpResend, 'cust-1');
    expect((await limiter.consume(RATE_LIMITS.customerOtpResend, 'cust-1')).allowed).toBe(true);
  });

  it('counts an ingest batch as its number of events', async () => {
    const result = await limiter.consume(RATE_LIMITS.partnerEventsExternal, 'token-1', 500);
    expect(result).toMatchObject({ allowed: true, count: 500, remaining: 99_500 });
    expect((await limiter.consume(RATE_LIMITS.partnerEventsExternal, 'token-1', 99_501)).allowed).toBe(false);
    expect((await limiter.consume(RATE_LIMITS.partnerEventsExternal, 'token-1', 99_500)).allowed).toBe(true);
  });

  it('consumeOrThrow raises the caller\'s error with retryAfterSeconds', async () => {
    const bucket = { name: 'test', limit: 2, windowMs: 60_000 };
    const toError = (s: number) => new TooManyRequests(s);
    await expect(limiter.consumeOrThrow(bucket, 'ip', 2, toError)).resolves.toMatchObject({ allowed: true, remaining: 0 });
    const error = await limiter.consumeOrThrow(bucket, 'ip', 1, toError).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TooManyRequests);
    expect((error as TooManyRequests).retryAfterSeconds).toBe(90); // 60 s + 2 * (1 - f) + 1 <= 2 at f = 0.5
  });
});

describe('createRateLimitStore', () => {
  it('uses memory without a Redis URL and Redis with one', async () => {
    const memory = createRateLimitStore();
    expect(memory).toBeInstanceOf(MemoryRateLimitStore);
    expect(createRateLimitStore('')).toBeInstanceOf(MemoryRateLimitStore);
    const redis = createRateLimitStore('redis://127.0.0.1:1', { onError: () => undefined });
    expect(redis).toBeInstanceOf(RedisRateLimitStore);
    await Promise.all([memory.close(), redis.close()]);
  });
});

describe('RateLimitModule', () => {
  it('provides RateLimiter globally and closes the store on shutdown', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [RateLimitModule.forRoot()] }).compile();
    const app = moduleRef.createNestApplication();
    await app.init();
    const limiter = app.get(RateLimiter);
    const store = app.get(RATE_LIMIT_STORE) as MemoryRateLimitStore;
    expect(store).toBeInstanceOf(MemoryRateLimitStore);
    expect(limiter.store).toBe(store);
    expect((await limiter.consume(RATE_LIMITS.signInPerIp, '203.0.113.7')).allowed).toBe(true);

    const close = jest.spyOn(store, 'close');
    await app.close();
    expect(close).toHaveBeenCalledTimes(1);
  });
});
