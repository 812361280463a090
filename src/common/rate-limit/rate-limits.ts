/** A named policy: at most `limit` operations per sliding `windowMs`, counted per id under `name`. */
export interface RateLimitBucket {
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
}

const MINUTE = 60_000;

/** Default policies (SPEC). Limits count GraphQL operations (each root field, aliases included), not HTTP requests. */
export const RATE_LIMITS = {
  /** Operations per staff account. */
  staffOperations: { name: 'staff-ops', limit: 600, windowMs: MINUTE },
  /**
   * Operations per partner token. Not a SPEC figure (the SPEC caps partner *events*, below). `ingestEvents` is
   * counted here only when its policy refuses it; allowed, it counts its events (EVENT_METERED_OPERATIONS).
   */
  partnerOperations: { name: 'partner-ops', limit: 6_000, windowMs: MINUTE },
  /** Sign-in operations per client IP. */
  signInPerIp: { name: 'sign-in-ip', limit: 60, windowMs: MINUTE },
  /**
   * Requests per client IP refused for want of a valid credential (none, or invalid, expired or revoked),
   * counted once per request: they reach no account or token bucket, and each one is audited.
   */
  unauthenticatedPerIp: { name: 'unauth-ip', limit: 60, windowMs: MINUTE },
  /** Partner events per EXTERNAL partner token (an ingest of N events costs N). */
  partnerEventsExternal: { name: 'partner-events-ext', limit: 100_000, windowMs: MINUTE },
  /** Partner events per INTERNAL partner token (an ingest of N events costs N). */
  partnerEventsInternal: { name: 'partner-events-int', limit: 3_000_000, windowMs: MINUTE },
  /** Blind-index lookups per user. */
  blindIndexLookups: { name: 'blind-index', limit: 60, windowMs: MINUTE },
  /** Customer OTP resends per customer. */
  customerOtpResend: { name: 'otp-resend', limit: 3, windowMs: 15 * MINUTE },
} as const satisfies Record<string, RateLimitBucket>;

/**
 * The events bucket for a partner: the partner's own `eventsPerMinute` when set (CreatePartnerInput /
 * UpdatePartnerInput), else the trust level's configured default (AppConfig.rateLimits, RATE_LIMIT_PARTNER_EVENTS_*),
 * else the SPEC default.
 */
export function partnerEventsBucket(
  trustLevel: 'EXTERNAL' | 'INTERNAL',
  eventsPerMinute?: number | null,
  configured?: { partnerEventsExternal: number; partnerEventsInternal: number },
): RateLimitBucket {
  const base = trustLevel === 'INTERNAL'
    ? configuredBucket(RATE_LIMITS.partnerEventsInternal, configured?.partnerEventsInternal)
    : configuredBucket(RATE_LIMITS.partnerEventsExternal, configured?.partnerEventsExternal);
  return eventsPerMinute ? { ...base, limit: eventsPerMinute } : base;
}

/** The configured limits (AppConfig.rateLimits) applied to a default bucket; the bucket name and window stay. */
export function configuredBucket(bucket: RateLimitBucket, limit: number | undefined): RateLimitBucket {
  return limit ? { ...bucket, limit } : bucket;
}
