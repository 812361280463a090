import { DynamicModule, Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import type { RateLimitStore } from './rate-limit.store';
import { RATE_LIMIT_STORE, RateLimiter, createRateLimitStore } from './rate-limiter.service';

/** Provides RateLimiter everywhere; counters live in Redis when `redisUrl` is given, in memory otherwise. */
@Global()
@Module({})
export class RateLimitModule implements OnApplicationShutdown {
  constructor(@Inject(RATE_LIMIT_STORE) private readonly store: RateLimitStore) {}

  /** `keyPrefix`: the deployment's Redis namespace (REDIS_KEY_PREFIX) followed by `rl:`, so deployments sharing a Redis count apart. */
  static forRoot(redisUrl?: string, keyPrefix?: string): DynamicModule {
    return {
      module: RateLimitModule,
      providers: [{ provide: RATE_LIMIT_STORE, useFactory: () => createRateLimitStore(redisUrl, keyPrefix ? { keyPrefix } : undefined) }, RateLimiter],
      exports: [RateLimiter, RATE_LIMIT_STORE],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
