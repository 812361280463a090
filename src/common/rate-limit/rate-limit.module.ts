import { DynamicModule, Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import type { RateLimitStore } from './rate-limit.store';
import { RATE_LIMIT_STORE, RateLimiter, createRateLimitStore } from './rate-limiter.service';

/** Provides RateLimiter everywhere; counters live in Redis when `redisUrl` is given, in memory otherwise. */
@Global()
@Module({})
export class RateLimitModule implements OnApplicationShutdown {
  constructor(@Inject(RATE_LIMIT_STORE) private readonly store: RateLimitStore) {}

  static forRoot(redisUrl?: string): DynamicModule {
    return {
      module: RateLimitModule,
      providers: [{ provide: RATE_LIMIT_STORE, useFactory: () => createRateLimitStore(redisUrl) }, RateLimiter],
      exports: [RateLimiter, RATE_LIMIT_STORE],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
