/**
 * Rate-limit counters.
 *
 * Algorithm: sliding-window approximation (Cloudflare's "two fixed windows, weighted"). Each key keeps the count of
 * the current fixed window and of the previous one; the usage at time t is estimated as
 *
 *     previous * (1 - elapsedInCurrentWindow / windowMs) + current
 *
 * Why not a plain fixed window: a fixed window lets a client spend 2x the limit across a window boundary (the whole
 * quota at 0:59 and again at 1:00) and every refused client retries at the same instant when the window flips. The
 * approximation needs only two counters per key (so it is as cheap as a fixed window and trivially atomic in one Lua
 * script), smooths the boundary, and errs on the side of the limit when traffic is front-loaded.
 *
 * A hit of `cost` N counts N operations at once. It is allowed only if the whole batch fits
 * (`estimate + cost <= limit`); a refused hit consumes nothing, so a refused batch does not burn the quota.
 */

export interface RateLimitResult {
  allowed: boolean;
  /** Estimated operations in the sliding window, including this hit when it was allowed (rounded up). */
  count: number;
  /** Operations still available in the window (rounded down, never negative). */
  remaining: number;
  /** 0 when allowed; otherwise whole seconds (>= 1) after which the same hit would be allowed, absent other traffic. */
  retryAfterSeconds: number;
}

export interface RateLimitStore {
  /**
   * Counts `cost` (default 1, a non-negative safe integer) operations against `key`, atomically.
   * `limit` operations are allowed per sliding window of `windowMs` milliseconds.
   */
  hit(key: string, limit: number, windowMs: number, cost?: number): Promise<RateLimitResult>;
  /** Forgets everything counted for `key`. */
  reset(key: string): Promise<void>;
  /** Releases timers and connections. */
  close(): Promise<void>;
}

/** Counter state of one key, as stored (memory) or returned by the Lua script (Redis). */
export interface WindowCounters {
  /** Index of the current fixed window: floor(now / windowMs). */
  window: number;
  /** Operations counted in the current fixed window. */
  current: number;
  /** Operations counted in the fixed window just before it. */
  previous: number;
}

/** Throws on nonsensical arguments; both stores call it before touching state. */
export function validateHit(limit: number, windowMs: number, cost: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`rate limit must be a positive integer, got ${limit}`);
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) {
    throw new RangeError(`rate limit window must be a positive integer of milliseconds, got ${windowMs}`);
  }
  if (!Number.isSafeInteger(cost) || cost < 0) throw new RangeError(`rate limit cost must be a non-negative integer, got ${cost}`);
}

/** Rolls stored counters forward to the window containing `now` (one window later: current becomes previous). */
export function rollWindow(stored: WindowCounters | undefined, now: number, windowMs: number): WindowCounters {
  const window = Math.floor(now / windowMs);
  if (!stored || stored.window < window - 1) return { window, current: 0, previous: 0 };
  if (stored.window === window - 1) return { window, current: 0, previous: stored.current };
  // Same window (or, with a clock that went backwards, a later one: keep it rather than forget the counts).
  return { window, current: stored.current, previous: stored.previous };
}

/** Weighted usage at `now`. Must stay formula-for-formula identical to the Lua script in redis.store.ts. */
export function estimateUsage(counters: WindowCounters, now: number, windowMs: number): number {
  const elapsed = now - counters.window * windowMs;
  return counters.previous * (1 - elapsed / windowMs) + counters.current;
}

/** The admission rule, shared by both stores (mirrored in Lua). */
export function fits(counters: WindowCounters, now: number, windowMs: number, limit: number, cost: number): boolean {
  return estimateUsage(counters, now, windowMs) + cost <= limit;
}

/**
 * Whole seconds until a hit of `cost` would fit, assuming no other traffic meanwhile. `counters` are the state at
 * `now` (already rolled). A cost larger than the limit can never fit; it gets one full window, callers should split
 * such batches.
 */
export function retryAfterSeconds(counters: WindowCounters, now: number, windowMs: number, limit: number, cost: number): number {
  if (cost > limit) return Math.max(1, Math.ceil(windowMs / 1000));
  const windowStart = counters.window * windowMs;
  let waitMs: number;
  if (counters.current + cost <= limit) {
    // Fits later in this window, once the previous window's weight has decayed enough:
    // previous * (1 - f) + current + cost <= limit  <=>  f >= 1 - (limit - current - cost) / previous.
    const fraction = 1 - (limit - counters.current - cost) / counters.previous;
    waitMs = windowStart + fraction * windowMs - now;
  } else {
    // Needs the next window, where today's current becomes the previous: current * (1 - f) + cost <= limit.
    const fraction = Math.max(0, 1 - (limit - cost) / counters.current);
    waitMs = windowStart + windowMs + fraction * windowMs - now;
  }
  let seconds = Math.max(1, Math.ceil(waitMs / 1000));
  // Guard against floating-point rounding at the boundary: the promised instant must really admit the hit.
  for (let i = 0; i < 3; i += 1) {
    const later = now + seconds * 1000;
    if (fits(rollWindow(counters, later, windowMs), later, windowMs, limit, cost)) break;
    seconds += 1;
  }
  return seconds;
}

/** Builds the public result from the state after the hit (counts already include the hit when it was allowed). */
export function toResult(
  allowed: boolean,
  counters: WindowCounters,
  now: number,
  windowMs: number,
  limit: number,
  cost: number,
): RateLimitResult {
  const usage = estimateUsage(counters, now, windowMs);
  // Tolerate float noise (e.g. 9.000000000000002) before rounding up.
  const count = Math.max(0, Math.ceil(usage - 1e-9));
  return {
    allowed,
    count,
    remaining: Math.max(0, Math.floor(limit - usage + 1e-9)),
    retryAfterSeconds: allowed ? 0 : retryAfterSeconds(counters, now, windowMs, limit, cost),
  };
}
