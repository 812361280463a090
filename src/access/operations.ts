/** Public sign-in steps, rate-limited per client IP. */
export const SIGN_IN_OPERATIONS = new Set([
  'login',
  'completePasswordChange',
  'beginTotpEnrollment',
  'completeTotpEnrollment',
  'verifyTotp',
  'useRecoveryCode',
  'refreshSession',
]);

/**
 * At most one of these may run per request (aliases and fragments included; SPEC §8: a second sign-in
 * operation in one request is QUERY_TOO_COMPLEX): every sign-in step, each of which checks a secret, and the
 * other operations that check a code.
 */
export const ONCE_PER_REQUEST_OPERATIONS = new Set([...SIGN_IN_OPERATIONS, 'stepUp', 'completeCustomerVerification']);

/**
 * Partner operations metered by what they carry instead of the per-token operation count: each event of
 * `ingestEvents` counts once against the partner's events limit (SPEC §8: "Rate limits count each event as one
 * operation"), so a feed sending one event per call is held to `eventsPerMinute`, not to the operation count.
 * A call its policy refuses is one operation like any other (the guard).
 */
export const EVENT_METERED_OPERATIONS = new Set(['ingestEvents']);
