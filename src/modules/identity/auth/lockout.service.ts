import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { RateLimitedError } from '../../../common/errors/app-error';

export type FailureKind = 'PASSWORD' | 'TOTP' | 'RECOVERY_CODE' | 'STEP_UP';

/** SPEC: 10 failures in 15 minutes lock the account for 15 minutes; 100 from one IP throttle that IP. */
export const LOCKOUT = { accountFailures: 10, ipFailures: 100, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };

export const normalizeEmail = (email: string): string => email.trim().toLowerCase();

/**
 * Counts failed secrets (password, TOTP, recovery code, step-up) per normalised e-mail — unknown addresses
 * included, so probing cannot tell them apart — and per IP. Rows in PostgreSQL, so every instance sees the
 * same counts. The per-IP throttle never locks an account; the account lock never blocks other accounts.
 */
@Injectable()
export class LockoutService {
  constructor(private readonly dataSource: DataSource) {}

  /** Throws RATE_LIMITED while the account or the IP is locked out. */
  async assertNotLocked(emailNormalized: string, ip: string | undefined): Promise<void> {
    const [row] = (await this.dataSource.query(
      `SELECT
         (SELECT array_agg(occurred_at ORDER BY occurred_at DESC) FROM (
            SELECT occurred_at FROM sign_in_failure
             WHERE email_normalized = $1 AND occurred_at > now() - make_interval(secs => $3 / 1000.0)
             ORDER BY occurred_at DESC LIMIT $4) a) AS account_failures,
         (SELECT array_agg(occurred_at ORDER BY occurred_at DESC) FROM (
            SELECT occurred_at FROM sign_in_failure
             WHERE ip = $2 AND occurred_at > now() - make_interval(secs => $3 / 1000.0)
             ORDER BY occurred_at DESC LIMIT $5) b) AS ip_failures`,
      [emailNormalized, ip ?? null, LOCKOUT.windowMs, LOCKOUT.accountFailures, LOCKOUT.ipFailures],
    )) as Array<{ account_failures: Date[] | null; ip_failures: Date[] | null }>;
    const retry = (failures: Date[] | null, threshold: number): number | null => {
      if (!failures || failures.length < threshold) return null;
      // Locked from the threshold-th failure until lockMs after it (the most recent one counts).
      const lockedUntil = new Date(failures[0]).getTime() + LOCKOUT.lockMs;
      const seconds = (lockedUntil - Date.now()) / 1000;
      return seconds > 0 ? seconds : null;
    };
    const account = retry(row?.account_failures ?? null, LOCKOUT.accountFailures);
    const byIp = retry(row?.ip_failures ?? null, LOCKOUT.ipFailures);
    const wait = Math.max(account ?? 0, byIp ?? 0);
    if (wait > 0) throw new RateLimitedError(wait, account ? 'Too many failed attempts: the account is locked for a while' : 'Too many failed attempts from this address');
  }

  /** Records one failure; returns true when this failure locked the account. */
  async recordFailure(emailNormalized: string, ip: string | undefined, kind: FailureKind): Promise<boolean> {
    const [row] = (await this.dataSource.query(
      `WITH ins AS (INSERT INTO sign_in_failure (email_normalized, ip, kind) VALUES ($1, $2, $3) RETURNING 1)
       SELECT count(*)::int + 1 AS failures FROM sign_in_failure
        WHERE email_normalized = $1 AND occurred_at > now() - make_interval(secs => $4 / 1000.0)`,
      [emailNormalized, ip ?? null, kind, LOCKOUT.windowMs],
    )) as Array<{ failures: number }>;
    return row.failures === LOCKOUT.accountFailures;
  }
}
