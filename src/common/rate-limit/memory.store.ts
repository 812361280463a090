import {
  RateLimitResult,
  RateLimitStore,
  WindowCounters,
  fits,
  rollWindow,
  toResult,
  validateHit,
} from './rate-limit.store';

export interface MemoryRateLimitStoreOptions {
  /** Clock in epoch milliseconds; injectable for tests. */
  now?: () => number;
  /** How often expired keys are swept (ms). Default 60 s. The timer is unref'd. */
  sweepIntervalMs?: number;
  /**
   * Hard cap on tracked keys (default 1,000,000). When reached, expired keys are swept and, if still full, the
   * oldest-inserted key is evicted (which forgets its count: the cap errs on the side of availability).
   */
  maxKeys?: number;
}

interface Entry extends WindowCounters {
  /** When both windows have passed and the entry carries no information any more. */
  expiresAt: number;
}

/**
 * In-process counters for a single instance (no REDIS_URL). Every hit runs synchronously inside one turn of the
 * event loop, so check-and-increment is atomic without locks.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly maxKeys: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxKeys = options.maxKeys ?? 1_000_000;
    this.timer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    this.timer.unref();
  }

  /** Number of tracked keys (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  async hit(key: string, limit: number, windowMs: number, cost = 1): Promise<RateLimitResult> {
    validateHit(limit, windowMs, cost);
    const now = Math.floor(this.now());
    const stored = this.entries.get(key);
    const counters = rollWindow(stored && stored.expiresAt > now ? stored : undefined, now, windowMs);
    const allowed = fits(counters, now, windowMs, limit, cost);
    if (allowed && cost > 0) {
      counters.current += cost;
      if (!stored) this.makeRoom();
      this.entries.set(key, { ...counters, expiresAt: (counters.window + 2) * windowMs });
    }
    return toResult(allowed, counters, now, windowMs, limit, cost);
  }

  async reset(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.entries.clear();
  }

  /** Drops every key whose windows have both passed. Runs on the timer; public for tests. */
  sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(key);
    }
  }

  private makeRoom(): void {
    if (this.entries.size < this.maxKeys) return;
    this.sweep();
    while (this.entries.size >= this.maxKeys) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }
}
