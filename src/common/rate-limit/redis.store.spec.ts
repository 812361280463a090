import { randomBytes } from 'node:crypto';
import { RedisRateLimitStore } from './redis.store';
import { redisReachable, TEST_REDIS_URL } from '../../../test/helpers/redis';

const REDIS_URL = TEST_REDIS_URL;
const MINUTE = 60_000;

const redisUp = redisReachable(REDIS_URL);
if (!redisUp) console.warn(`Redis at ${REDIS_URL} unreachable: skipping the live Redis rate-limit tests`);

(redisUp ? describe : describe.skip)('RedisRateLimitStore against live Redis', () => {
  const prefix = `custos:rl:test:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const errors: Array<[Error, string]> = [];
  let store: RedisRateLimitStore;

  beforeAll(async () => {
    store = new RedisRateLimitStore(REDIS_URL, { keyPrefix: prefix, onError: (e, op) => errors.push([e, op]) });
    if (store.client.status !== 'ready') await new Promise((resolve) => store.client.once('ready', resolve));
  });

  afterAll(async () => {
    const keys = await store.client.keys(`${prefix}*`);
    if (keys.length > 0) await store.client.del(...keys);
    expect(await store.client.keys(`${prefix}*`)).toEqual([]);
    await store.close();
    expect(store.client.status).toBe('end');
  });

  beforeEach(() => {
    errors.length = 0;
  });

  it('admits exactly the limit out of 50 concurrent hits', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => store.hit('burst', 10, MINUTE)));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    expect(results.filter((r) => !r.allowed).every((r) => r.retryAfterSeconds > 0)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('admits exactly the batches that fit out of concurrent batches', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => store.hit('batches', 10, MINUTE, 3)));
    expect(results.filter((r) => r.allowed)).toHaveLength(3);
    expect((await store.hit('batches', 10, MINUTE, 1)).allowed).toBe(true); // refused batches burnt nothing
  });

  it('keeps state in one expiring hash under the prefix, on the Redis clock', async () => {
    await store.hit('layout', 10, MINUTE, 2);
    const hash = await store.client.hgetall(`${prefix}layout`);
    expect(hash).toMatchObject({ c: '2', p: '0' });
    expect(Math.abs(Number(hash.w) - Math.floor(Date.now() / MINUTE))).toBeLessThanOrEqual(1);
    const ttl = await store.client.pttl(`${prefix}layout`);
    expect(ttl).toBeGreaterThan(MINUTE);
    expect(ttl).toBeLessThanOrEqual(2 * MINUTE);

    await store.reset('layout');
    expect(await store.client.exists(`${prefix}layout`)).toBe(0);
  });

  it('fails open and reports when Redis answers with an error', async () => {
    await store.client.set(`${prefix}wrongtype`, 'not a hash');
    expect(await store.hit('wrongtype', 1, MINUTE)).toEqual({ allowed: true, count: 0, remaining: 1, retryAfterSeconds: 0 });
    expect(errors).toHaveLength(1);
    expect(errors[0][1]).toBe('hit');
    expect(errors[0][0].message).toMatch(/WRONGTYPE/);
  });
});

describe('RedisRateLimitStore without Redis', () => {
  it('fails open at once, reports the errors, and closes cleanly', async () => {
    const errors: Array<[Error, string]> = [];
    // Port 1: nothing listens there, the connection is refused.
    const store = new RedisRateLimitStore('redis://127.0.0.1:1', { onError: (e, op) => errors.push([e, op]) });
    const started = Date.now();
    const result = await store.hit('k', 5, MINUTE);
    expect(result).toEqual({ allowed: true, count: 0, remaining: 5, retryAfterSeconds: 0 });
    await expect(store.reset('k')).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(500);
    expect(errors.map(([, op]) => op)).toEqual(expect.arrayContaining(['hit', 'reset']));

    await store.close();
    expect(store.client.status).toBe('end');
  });

  it('still validates arguments rather than failing open on programming errors', async () => {
    const store = new RedisRateLimitStore('redis://127.0.0.1:1', { onError: () => undefined });
    await expect(store.hit('k', 5, MINUTE, -1)).rejects.toThrow(RangeError);
    await store.close();
  });
});
