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
