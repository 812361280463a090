import type { AuditSink } from '../common/audit/audit-sink';
import type { RateLimiter } from '../common/rate-limit/rate-limiter.service';
import { configuredBucket, RATE_LIMITS } from '../common/rate-limit/rate-limits';
import { RateLimitedError } from '../common/errors/app-error';
import type { Principal } from '../common/context/principal';
import type { AppConfig } from '../config/config';

type AuditInput = Parameters<AuditSink['record']>[0];

/** The audit entry of a request whose credential was refused (invalid, expired, revoked, suspended). */
export function invalidCredentialEntry(details: { path: string; transport?: 'websocket' }): AuditInput {
  return { action: 'auth.invalid_credential', outcome: 'DENIED', resourceType: 'Request', details };
}

/**
 * A request without a valid credential (over HTTP, or a subscription socket's connection) reaches no account
 * or token bucket, so it counts against its client address, and is audited (`record`) only while under the
 * limit. Past it nothing more is written: a loop of anonymous or forged attempts can neither run unchecked
 * nor grow the append-only log without bound. Resolves to null, or the seconds to wait.
 */
export async function countUnauthenticated(limiter: RateLimiter, limitPerMinute: number, ip: string | undefined, record: () => Promise<void>): Promise<number | null> {
  const bucket = configuredBucket(RATE_LIMITS.unauthenticatedPerIp, limitPerMinute);
  const { allowed, retryAfterSeconds } = await limiter.consume(bucket, ip ?? 'unknown', 1);
  if (!allowed) return retryAfterSeconds;
  await record();
  return null;
}

/**
 * One operation of an authenticated principal against its bucket: a staff user's per user, a partner's per
 * token. RATE_LIMITED past it. HTTP operations are charged by the access guard, subscriptions over a socket
 * when they are requested (so a refusal is an `error` message, not a `next` carrying errors).
 */
export async function chargeOperation(limiter: RateLimiter, limits: AppConfig['rateLimits'], principal: Principal): Promise<void> {
  await (principal.kind === 'USER'
    ? limiter.consumeOrThrow(configuredBucket(RATE_LIMITS.staffOperations, limits.staffOperations), principal.userId, 1, (s) => new RateLimitedError(s))
    : limiter.consumeOrThrow(configuredBucket(RATE_LIMITS.partnerOperations, limits.partnerOperations), principal.tokenId, 1, (s) => new RateLimitedError(s)));
}
