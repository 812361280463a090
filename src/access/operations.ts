/** Operations that verify a secret: at most one of them may run per request (aliases and fragments included). */
export const ONCE_PER_REQUEST_OPERATIONS = new Set([
  'login',
  'verifyTotp',
  'useRecoveryCode',
  'stepUp',
  'completeCustomerVerification',
]);

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
