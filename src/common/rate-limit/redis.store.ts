import { Logger } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { RateLimitResult, RateLimitStore, WindowCounters, toResult, validateHit } from './rate-limit.store';

export const REDIS_RATE_LIMIT_PREFIX = 'custos:rl:';

export type RedisRateLimitOperation = 'hit' | 'reset' | 'connection';

export interface RedisRateLimitStoreOptions {
  /** Prepended to every key. Default `custos:rl:`; tests use a unique prefix per run. */
  keyPrefix?: string;
  /**
   * Clock in epoch milliseconds. Default: none, the script reads Redis's own `TIME`, so every instance shares one
   * clock whatever their skew. Injectable for tests.
   */
  now?: () => number;
  /**
   * Called for every Redis failure (the hit itself is then allowed, see the class comment). Default: a warning
   * through Nest's Logger, at most one line per 10 s with a count of the ones suppressed. Never receives keys,
   * which carry IPs and account ids.
   */
  onError?: (error: Error, operation: RedisRateLimitOperation) => void;
  /** A command that takes longer fails (and so fails open). Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Extra ioredis options; the fail-fast settings below are applied on top of them. */
  redisOptions?: RedisOptions;
}

/**
 * One atomic step per hit: roll the two windows, decide, and count only when allowed.
 * KEYS[1] = counter hash {w = window index, c = current count, p = previous count}
 * ARGV = limit, windowMs, cost, now in ms ('' = use Redis TIME).
 * Returns {allowed 0|1, window, current, previous, now} (state after the hit).
 * Mirrors rollWindow/fits in rate-limit.store.ts; keep them identical.
 */
const HIT_SCRIPT = `
local limit = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window = math.floor(now / windowMs)
local stored = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local storedWindow = tonumber(stored[1])
local current, previous = 0, 0
if storedWindow then
  if storedWindow == window - 1 then
    previous = tonumber(stored[2]) or 0
  elseif storedWindow >= window then
    current = tonumber(stored[2]) or 0
    previous = tonumber(stored[3]) or 0
  end
end
local elapsed = now - window * windowMs
local allowed = 0
if previous * (1 - elapsed / windowMs) + current + cost <= limit then
  allowed = 1
  if cost > 0 then
    current = current + cost
    redis.call('HSET', KEYS[1], 'w', window, 'c', current, 'p', previous)
    redis.call('PEXPIRE', KEYS[1], (window + 2) * windowMs - now)
  end
end
return {allowed, window, current, previous, now}
`;

type HitReply = [number, number, number, number, number];

interface RateLimitCommands {
  custosRateLimitHit(key: string, limit: number, windowMs: number, cost: number, now: string): Promise<HitReply>;
}

/**
 * Counters shared by every instance through Redis (REDIS_URL set).
 *
 * Failure policy: FAIL OPEN. If Redis is down, slow or errors, `hit` resolves as allowed and reports the error to
 * `onError`. These limits guard against abuse and overload; failing closed would turn a Redis outage into an outage
 * of sign-in, staff work and partner ingestion, which is worse than briefly unthrottled traffic (the other defences,
 * authentication, lockouts, query cost limits, still apply). The client fails fast instead of queueing
 * (`enableOfflineQueue: false`, `maxRetriesPerRequest: 1`, a command timeout), so an outage adds no latency.
 * Consequence: hits issued before the first connection is ready are allowed too.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly client: Redis;
  private readonly prefix: string;
  private readonly now: (() => number) | undefined;
  private readonly onError: (error: Error, operation: RedisRateLimitOperation) => void;

  constructor(redisUrl: string, options: RedisRateLimitStoreOptions = {}) {
    this.prefix = options.keyPrefix ?? REDIS_RATE_LIMIT_PREFIX;
    this.now = options.now;
    this.onError = options.onError ?? throttledWarning();
    this.client = new Redis(redisUrl, {
      ...options.redisOptions,
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: options.commandTimeoutMs ?? 1000,
    });
    // Without a listener ioredis prints every reconnection failure as an unhandled error event.
    this.client.on('error', (error: Error) => this.report(error, 'connection'));
    this.client.defineCommand('custosRateLimitHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
  }

  async hit(key: string, limit: number, windowMs: number, cost = 1): Promise<RateLimitResult> {
    validateHit(limit, windowMs, cost);
    const clock = this.now ? String(Math.floor(this.now())) : '';
    try {
      const commands = this.client as unknown as RateLimitCommands;
      const [allowed, window, current, previous, now] = await commands.custosRateLimitHit(this.prefix + key, limit, windowMs, cost, clock);
      const counters: WindowCounters = { window: Number(window), current: Number(current), previous: Number(previous) };
      return toResult(Number(allowed) === 1, counters, Number(now), windowMs, limit, cost);
    } catch (error) {
      this.report(error, 'hit');
      return { allowed: true, count: 0, remaining: limit, retryAfterSeconds: 0 };
    }
  }

  async reset(key: string): Promise<void> {
    try {
      await this.client.del(this.prefix + key);
    } catch (error) {
      this.report(error, 'reset');
    }
  }

  /** Quits gracefully when connected, otherwise stops reconnecting; resolves once the connection has ended. */
  async close(): Promise<void> {
    if (this.client.status === 'end') return;
    let timer: NodeJS.Timeout | undefined;
    const ended = new Promise<void>((resolve) => {
      this.client.once('end', () => resolve());
      timer = setTimeout(resolve, 2000); // never hang a shutdown on a half-open socket
      timer.unref();
    });
    try {
      if (this.client.status !== 'ready') throw new Error('not connected');
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
    await ended;
    clearTimeout(timer);
  }

  private report(error: unknown, operation: RedisRateLimitOperation): void {
    try {
      this.onError(error instanceof Error ? error : new Error(String(error)), operation);
    } catch {
      // A failing reporter must not turn fail-open into a crash.
    }
  }
}

function throttledWarning(intervalMs = 10_000): (error: Error, operation: RedisRateLimitOperation) => void {
  const logger = new Logger('RateLimit');
  let lastAt = 0;
  let suppressed = 0;
  return (error, operation) => {
    const now = Date.now();
    if (now - lastAt < intervalMs) {
      suppressed += 1;
      return;
    }
    const extra = suppressed > 0 ? ` (${suppressed} similar suppressed)` : '';
    lastAt = now;
    suppressed = 0;
    logger.warn(`Redis rate-limit ${operation} failed, allowing traffic (fail open): ${error.message}${extra}`);
  };
}
