import { MemoryRateLimitStore } from './memory.store';

const MINUTE = 60_000;

describe('MemoryRateLimitStore housekeeping', () => {
  let clock = 0;
  const now = () => clock;

  beforeEach(() => {
    clock = 100 * MINUTE;
  });

  it('sweeps keys once both of their windows have passed', async () => {
    const store = new MemoryRateLimitStore({ now });
    await store.hit('short', 5, 1000);
    await store.hit('long', 5, MINUTE);
    expect(store.size).toBe(2);

    clock += 1999;
    store.sweep();
    expect(store.size).toBe(2); // 'short' still weighs in the sliding window
    clock += 1;
    store.sweep();
    expect(store.size).toBe(1);
    clock += 2 * MINUTE;
    store.sweep();
    expect(store.size).toBe(0);
    await store.close();
  });

  it('sweeps on an unref\'d timer that close() clears', async () => {
    jest.useFakeTimers();
    try {
      const unref = jest.spyOn(global, 'setInterval');
      const store = new MemoryRateLimitStore({ now, sweepIntervalMs: 1000 });
      const timer = unref.mock.results[0].value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
      unref.mockRestore();

      await store.hit('k', 5, 1000);
      clock += 2000;
      jest.advanceTimersByTime(1000);
      expect(store.size).toBe(0);

      await store.close();
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('does not store refused hits or zero-cost peeks', async () => {
    const store = new MemoryRateLimitStore({ now });
    await store.hit('peek', 5, MINUTE, 0);
    await store.hit('too-big', 5, MINUTE, 6);
    expect(store.size).toBe(0);
    await store.close();
  });

  it('stays under maxKeys, sweeping first and then evicting the oldest key', async () => {
    const store = new MemoryRateLimitStore({ now, maxKeys: 3 });
    await store.hit('expired', 1, 1000);
    clock += 2000;
    for (const k of ['a', 'b', 'c']) await store.hit(k, 1, MINUTE);
    expect(store.size).toBe(3);
    expect((await store.hit('a', 1, MINUTE)).allowed).toBe(false); // 'expired' was swept to make room

    await store.hit('d', 1, MINUTE);
    expect(store.size).toBe(3);
    expect((await store.hit('a', 1, MINUTE, 0)).count).toBe(0); // 'a' was the oldest: evicted
    expect((await store.hit('b', 1, MINUTE)).allowed).toBe(false);
    await store.close();
  });
});
