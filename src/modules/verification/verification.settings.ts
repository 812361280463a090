/** One-time codes: 6 digits, valid 5 minutes, 5 attempts (SPEC §5 verification). */
export const OTP_SETTINGS = { ttlMs: 5 * 60_000, maxAttempts: 5 } as const;

/** Customers no verification may be started or recorded for (SPEC §8: writes to them are CONFLICT). */
export const CLOSED_CUSTOMER: ReadonlySet<string> = new Set(['TERMINATED', 'ERASED']);
