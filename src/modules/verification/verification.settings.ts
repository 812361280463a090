/** One-time codes: 6 digits, valid 5 minutes, 5 attempts (SPEC §5 verification). */
export const OTP_SETTINGS = { ttlMs: 5 * 60_000, maxAttempts: 5 } as const;
