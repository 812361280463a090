import { Inject, Injectable } from '@nestjs/common';
import { MemoryRateLimitStore } from './memory.store';
import type { RateLimitResult, RateLimitStore } from './rate-limit.store';
import type { RateLimitBucket } from './rate-limits';
import { RedisRateLimitStore, RedisRateLimitStoreOptions } from './redis.store';

export { RATE_LIMITS, partnerEventsBucket } from './rate-limits';
export type { RateLimitBucket } from './rate-limits';

export const RATE_LIMIT_STORE = Symbol('RATE_LIMIT_STORE');

/** Redis-backed (shared across instances) when a URL is given, in-process otherwise. Empty string counts as unset. */
export function createRateLimitStore(redisUrl?: string, redisOptions?: RedisRateLimitStoreOptions): RateLimitStore {
  return redisUrl ? new RedisRateLimitStore(redisUrl, redisOptions) : new MemoryRateLimitStore();
}

@Injectable()
export class RateLimiter {
  constructor(@Inject(RATE_LIMIT_STORE) readonly store: RateLimitStore) {}

  /** Counts `cost` operations for `id` under `bucket`; a refused hit counts nothing. */
  consume(bucket: RateLimitBucket, id: string, cost = 1): Promise<RateLimitResult> {
    return this.store.hit(`${bucket.name}:${id}`, bucket.limit, bucket.windowMs, cost);
  }

  /** Like consume, but throws `toError(retryAfterSeconds)` when refused. */
  async consumeOrThrow(
    bucket: RateLimitBucket,
    id: string,
    cost: number,
    toError: (retryAfterSeconds: number) => Error,
  ): Promise<RateLimitResult> {
    const result = await this.consume(bucket, id, cost);
    if (!result.allowed) throw toError(result.retryAfterSeconds);
    return result;
  }

  /** Forgets the count of `id` under `bucket` (e.g. after a successful sign-in). */
  reset(bucket: RateLimitBucket, id: string): Promise<void> {
    return this.store.reset(`${bucket.name}:${id}`);
  }
}
