import { Inject, Injectable } from '@nestjs/common';
import { keyedDigest } from '../../../common/crypto/digest';
import { RateLimitedError } from '../../../common/errors/app-error';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { TransactionService } from '../../../database/transaction.service';

export type FailureKind = 'PASSWORD' | 'TOTP' | 'RECOVERY_CODE' | 'STEP_UP';

/** SPEC defaults (10 failures in 15 minutes lock the account for 15 minutes; 100 from one IP throttle that IP); the service reads AppConfig.lockout (LOCKOUT_* env). */
export const LOCKOUT = { accountFailures: 10, ipFailures: 100, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };

export const normalizeEmail = (email: string): string => email.trim().toLowerCase();

/**
 * Counts failed secrets (password, TOTP, recovery code, step-up) per normalised e-mail — unknown addresses
 * included, so probing cannot tell them apart — and per IP. Rows live in PostgreSQL, so every instance sees
 * the same counts; the e-mail is kept only as a keyed digest (people type passwords into e-mail fields).
 * Callers hold the account's lock (`serialize`) from the check to the record, so parallel guesses cannot
 * all slip in under the threshold.
 */
@Injectable()
export class LockoutService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tx: TransactionService,
  ) {}

  private accountKey(emailNormalized: string): string {
    return keyedDigest(this.config.keys.token, 'sign-in-account', emailNormalized);
  }

  /** Serialises sign-in attempts on one account until the surrounding transaction ends. */
  async serialize(emailNormalized: string): Promise<void> {
    await this.tx.manager().query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7))', [this.accountKey(emailNormalized)]);
  }

  /**
   * Seconds until the account or IP may try again, or 0. A lock starts at the failure that completed the
   * threshold within the window and lasts the full lock time from there, even after the earlier failures
   * behind it have left the window (so rows back to window + lock time are read, each counted over the
   * window that ends at it). No failure is recorded while locked, so the rows stay few.
   */
  async lockedFor(emailNormalized: string, ip: string | undefined): Promise<{ seconds: number; scope: 'ACCOUNT' | 'IP' | null }> {
    const lockedFrom = (column: 'email_normalized' | 'ip', threshold: string) => `(
      SELECT max(occurred_at) FROM (
        SELECT occurred_at, count(*) OVER (ORDER BY occurred_at RANGE BETWEEN make_interval(secs => $3::numeric / 1000) PRECEDING AND CURRENT ROW) AS failures
          FROM sign_in_failure
         WHERE ${column} = ${column === 'ip' ? '$2' : '$1'} AND occurred_at > now() - make_interval(secs => ($3::numeric + $6::numeric) / 1000)
      ) w WHERE failures >= ${threshold} AND occurred_at > now() - make_interval(secs => $6::numeric / 1000))`;
    const [row] = (await this.tx.manager().query(
      `SELECT ${lockedFrom('email_normalized', '$4::int')} AS account_locked_from, ${lockedFrom('ip', '$5::int')} AS ip_locked_from`,
      [this.accountKey(emailNormalized), ip ?? null, this.config.lockout.windowMs, this.config.lockout.accountFailures, this.config.lockout.ipFailures, this.config.lockout.lockMs],
    )) as Array<{ account_locked_from: Date | null; ip_locked_from: Date | null }>;
    const remaining = (from: Date | null) => (from ? Math.max(0, (new Date(from).getTime() + this.config.lockout.lockMs - Date.now()) / 1000) : 0);
    const account = remaining(row?.account_locked_from ?? null);
    const byIp = remaining(row?.ip_locked_from ?? null);
    if (account > 0) return { seconds: Math.max(account, byIp), scope: 'ACCOUNT' };
    if (byIp > 0) return { seconds: byIp, scope: 'IP' };
    return { seconds: 0, scope: null };
  }

  lockedError(lock: { seconds: number; scope: 'ACCOUNT' | 'IP' | null }): RateLimitedError {
    return new RateLimitedError(lock.seconds, lock.scope === 'ACCOUNT' ? 'Too many failed attempts: the account is locked for a while' : 'Too many failed attempts from this address');
  }

  /** Records one failure; true when it is the one that locked the account. */
  async recordFailure(emailNormalized: string, ip: string | undefined, kind: FailureKind): Promise<boolean> {
    const key = this.accountKey(emailNormalized);
    const [row] = (await this.tx.manager().query(
      `WITH ins AS (INSERT INTO sign_in_failure (email_normalized, ip, kind) VALUES ($1, $2, $3) RETURNING 1)
       SELECT count(*)::int + 1 AS failures FROM sign_in_failure
        WHERE email_normalized = $1 AND occurred_at > now() - make_interval(secs => $4 / 1000.0)`,
      [key, ip ?? null, kind, this.config.lockout.windowMs],
    )) as Array<{ failures: number }>;
    return row.failures >= this.config.lockout.accountFailures && row.failures - 1 < this.config.lockout.accountFailures;
  }
}
