import { randomBytes } from 'node:crypto';
import { MemoryRateLimitStore } from './memory.store';
import { RateLimitStore, estimateUsage, retryAfterSeconds, rollWindow } from './rate-limit.store';
import { RedisRateLimitStore } from './redis.store';
import { redisReachable, TEST_REDIS_URL } from '../../../test/helpers/redis';

const REDIS_URL = TEST_REDIS_URL;
const MINUTE = 60_000;
/** A window boundary, so elapsed time in the current window is easy to reason about. */
const T0 = 28_333_334 * MINUTE;

describe('sliding-window arithmetic', () => {
  it('rolls the current window into the previous one, and forgets anything older', () => {
    const stored = { window: 10, current: 7, previous: 3 };
    expect(rollWindow(stored, 10 * MINUTE + 5, MINUTE)).toEqual({ window: 10, current: 7, previous: 3 });
    expect(rollWindow(stored, 11 * MINUTE, MINUTE)).toEqual({ window: 11, current: 0, previous: 7 });
    expect(rollWindow(stored, 12 * MINUTE, MINUTE)).toEqual({ window: 12, current: 0, previous: 0 });
    expect(rollWindow(undefined, 12 * MINUTE, MINUTE)).toEqual({ window: 12, current: 0, previous: 0 });
  });

  it('weights the previous window by the part of it still inside the sliding window', () => {
    expect(estimateUsage({ window: 1, current: 2, previous: 10 }, MINUTE, MINUTE)).toBe(12);
    expect(estimateUsage({ window: 1, current: 2, previous: 10 }, MINUTE + 45_000, MINUTE)).toBe(4.5);
  });

  it('promises a retry instant at which the hit really fits', () => {
    for (const [current, previous, elapsed, limit, cost] of [
      [10, 0, 0, 10, 1], [3, 9, 10_000, 10, 1], [7, 7, 59_999, 10, 3], [1, 100, 1, 100, 1], [5, 5, 30_000, 7, 7],
    ]) {
      const counters = { window: 5, current, previous };
      const now = 5 * MINUTE + elapsed;
      const seconds = retryAfterSeconds(counters, now, MINUTE, limit, cost);
      const at = (s: number) => now + s * 1000;
      const usageAt = (s: number) => estimateUsage(rollWindow(counters, at(s), MINUTE), at(s), MINUTE);
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(usageAt(seconds) + cost).toBeLessThanOrEqual(limit);
      if (seconds > 1) expect(usageAt(seconds - 1) + cost).toBeGreaterThan(limit);
    }
  });
});

const redisUp = redisReachable(REDIS_URL);
if (!redisUp) console.warn(`Redis at ${REDIS_URL} unreachable: skipping the Redis runs of the store contract`);

interface StoreFixture {
  name: string;
  enabled: boolean;
  create(now: () => number): Promise<RateLimitStore>;
  cleanup(): Promise<void>;
}

const runId = `custos:rl:test:${process.pid}:${randomBytes(4).toString('hex')}:`;
let redisStore: RedisRateLimitStore | undefined;

const fixtures: StoreFixture[] = [
  {
    name: 'MemoryRateLimitStore',
    enabled: true,
    create: async (now) => new MemoryRateLimitStore({ now }),
    cleanup: async () => undefined,
  },
  {
    name: 'RedisRateLimitStore',
    enabled: redisUp,
    create: async (now) => {
      redisStore = new RedisRateLimitStore(REDIS_URL, { keyPrefix: runId, now });
      if (redisStore.client.status !== 'ready') await new Promise((resolve) => redisStore!.client.once('ready', resolve));
      return redisStore;
    },
    cleanup: async () => {
      if (!redisStore) return;
      const keys = await redisStore.client.keys(`${runId}*`);
      if (keys.length > 0) await redisStore.client.del(...keys);
      expect(await redisStore.client.keys(`${runId}*`)).toEqual([]);
    },
  },
];

describe.each(fixtures)('$name contract', (fixture) => {
  (fixture.enabled ? describe : describe.skip)('with an injected clock', () => {
    let clock = T0;
    let store: RateLimitStore;
    let keySeq = 0;
    const key = () => `k${(keySeq += 1)}`;

    beforeAll(async () => {
      store = await fixture.create(() => clock);
    });
    afterAll(async () => {
      await fixture.cleanup();
      await store?.close();
    });
    beforeEach(() => {
      clock = T0;
    });

    it('allows up to the limit, then refuses with the time until the oldest hits have slid out', async () => {
      const k = key();
      for (let i = 1; i <= 5; i += 1) {
        expect(await store.hit(k, 5, MINUTE)).toEqual({ allowed: true, count: i, remaining: 5 - i, retryAfterSeconds: 0 });
      }
      const refused = await store.hit(k, 5, MINUTE);
      // Next window, once 5 * (1 - f) + 1 <= 5, i.e. f >= 0.2: 60 s + 12 s.
      expect(refused).toEqual({ allowed: false, count: 5, remaining: 0, retryAfterSeconds: 72 });

      clock = T0 + 71_000;
      expect((await store.hit(k, 5, MINUTE)).allowed).toBe(false);
      clock = T0 + 72_000;
      expect((await store.hit(k, 5, MINUTE)).allowed).toBe(true);
    });

    it('gives back quota as the window slides, and all of it after two windows', async () => {
      const k = key();
      for (let i = 0; i < 5; i += 1) await store.hit(k, 5, MINUTE);

      clock = T0 + MINUTE + 30_000; // previous 5 weighs 0.5 => 2.5 used
      expect(await store.hit(k, 5, MINUTE)).toMatchObject({ allowed: true, count: 4, remaining: 1 });
      expect(await store.hit(k, 5, MINUTE)).toMatchObject({ allowed: true, count: 5, remaining: 0 });
      const refused = await store.hit(k, 5, MINUTE);
      // current 2: 5 * (1 - f) + 2 + 1 <= 5 once f >= 0.6, i.e. 36 s into the window, 6 s from now.
      expect(refused).toMatchObject({ allowed: false, retryAfterSeconds: 6 });
      clock = T0 + MINUTE + 35_000;
      expect((await store.hit(k, 5, MINUTE)).allowed).toBe(false);
      clock = T0 + MINUTE + 36_000;
      expect((await store.hit(k, 5, MINUTE)).allowed).toBe(true);

      clock = T0 + 3 * MINUTE;
      expect(await store.hit(k, 5, MINUTE)).toEqual({ allowed: true, count: 1, remaining: 4, retryAfterSeconds: 0 });
    });

    it('refuses a batch larger than what remains without consuming any of it', async () => {
      const k = key();
      expect(await store.hit(k, 10, MINUTE, 7)).toMatchObject({ allowed: true, count: 7, remaining: 3 });
      const refused = await store.hit(k, 10, MINUTE, 4);
      expect(refused).toMatchObject({ allowed: false, count: 7, remaining: 3 });
      expect(refused.retryAfterSeconds).toBeGreaterThan(0);
      // Nothing was burnt: exactly the 3 left still fit.
      expect(await store.hit(k, 10, MINUTE, 3)).toMatchObject({ allowed: true, count: 10, remaining: 0 });
      expect((await store.hit(k, 10, MINUTE, 1)).allowed).toBe(false);
    });

    it('never admits a batch larger than the limit, and it costs nothing', async () => {
      const k = key();
      expect(await store.hit(k, 10, MINUTE, 11)).toEqual({ allowed: false, count: 0, remaining: 10, retryAfterSeconds: 60 });
      expect(await store.hit(k, 10, MINUTE, 10)).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('reports without counting when the cost is 0', async () => {
      const k = key();
      await store.hit(k, 10, MINUTE, 4);
      expect(await store.hit(k, 10, MINUTE, 0)).toEqual({ allowed: true, count: 4, remaining: 6, retryAfterSeconds: 0 });
      expect(await store.hit(k, 10, MINUTE, 0)).toMatchObject({ count: 4 });
    });

    it('keeps keys independent, and reset forgets one key only', async () => {
      const a = key();
      const b = key();
      await store.hit(a, 2, MINUTE, 2);
      await store.hit(b, 2, MINUTE, 1);
      expect((await store.hit(a, 2, MINUTE)).allowed).toBe(false);
      expect(await store.hit(b, 2, MINUTE)).toMatchObject({ allowed: true, remaining: 0 });

      await store.reset(a);
      expect(await store.hit(a, 2, MINUTE)).toMatchObject({ allowed: true, count: 1 });
      expect((await store.hit(b, 2, MINUTE)).allowed).toBe(false);
    });

    it('rejects nonsensical arguments', async () => {
      await expect(store.hit(key(), 0, MINUTE)).rejects.toThrow(RangeError);
      await expect(store.hit(key(), 10, 0)).rejects.toThrow(RangeError);
      await expect(store.hit(key(), 10, MINUTE, -1)).rejects.toThrow(RangeError);
      await expect(store.hit(key(), 10, MINUTE, 1.5)).rejects.toThrow(RangeError);
    });
  });
});
