import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { keyedDigest } from '../../../common/crypto/digest';
import { BadUserInputError, UnauthenticatedError } from '../../../common/errors/app-error';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { TransactionService } from '../../../database/transaction.service';
import { ChallengeEntity, SignInStep } from '../entities/challenge.entity';
import { UserEntity } from '../entities/user.entity';
import { newSecret } from './secrets';

export const CHALLENGE_TTL_MS = 5 * 60_000;
export const CHALLENGE_MAX_FAILURES = 5;

export const challengeExpired = () => new UnauthenticatedError('The sign-in challenge has expired; sign in again', { reason: 'CHALLENGE_EXPIRED' });
export const invalidCode = (path = 'code') =>
  new BadUserInputError('The code is not valid', [{ path, message: 'is not valid' }], { reason: 'INVALID_CODE' });

/** Half-finished sign-ins, stored by keyed digest; each dies after 5 minutes, one use or 5 wrong codes. */
@Injectable()
export class ChallengeService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tx: TransactionService,
  ) {}

  private digest(token: string): string {
    return keyedDigest(this.config.keys.token, 'sign-in-challenge', token);
  }

  async issue(manager: EntityManager, userId: string, next: SignInStep): Promise<{ challengeToken: string; next: SignInStep; expiresAt: Date }> {
    const challengeToken = newSecret('ch_');
    const expiresAt = new Date(Date.now() + CHALLENGE_TTL_MS);
    await manager.insert(ChallengeEntity, { userId, tokenDigest: this.digest(challengeToken), next, expiresAt, failedAttempts: 0 });
    return { challengeToken, next, expiresAt };
  }

  /** The live challenge and its user; dead challenges are UNAUTHENTICATED (CHALLENGE_EXPIRED). */
  async open(challengeToken: string, expected: SignInStep): Promise<{ challenge: ChallengeEntity; user: UserEntity }> {
    if (typeof challengeToken !== 'string' || !challengeToken.startsWith('ch_') || challengeToken.length > 200) throw challengeExpired();
    const manager = this.tx.manager();
    const challenge = await manager.findOne(ChallengeEntity, { where: { tokenDigest: this.digest(challengeToken) } });
    if (!challenge || challenge.consumedAt || challenge.expiresAt <= new Date() || challenge.failedAttempts >= CHALLENGE_MAX_FAILURES) {
      throw challengeExpired();
    }
    if (challenge.next !== expected) {
      throw new BadUserInputError(`This challenge expects ${challenge.next}`, [{ path: 'challengeToken', message: `is for ${challenge.next}` }], { reason: 'WRONG_STEP' });
    }
    const user = await manager.findOneByOrFail(UserEntity, { id: challenge.userId });
    // A challenge is only good for the step the account still needs: one issued before the user enrolled
    // (or changed the password) elsewhere must not overwrite what that flow set.
    const stale =
      (expected === SignInStep.ENROLLMENT_REQUIRED && user.totpSecret !== null) ||
      (expected === SignInStep.TOTP_REQUIRED && user.totpSecret === null) ||
      (expected === SignInStep.PASSWORD_CHANGE_REQUIRED && !user.passwordChangeRequired);
    if (user.disabledAt || stale) throw challengeExpired();
    return { challenge, user };
  }

  /**
   * Takes one of the challenge's 5 attempts before a code is checked, atomically, so parallel guesses
   * cannot exceed the limit. A right code then consumes the challenge; a wrong one leaves the attempt spent.
   */
  async reserveAttempt(challengeId: string): Promise<void> {
    const [, count] = (await this.tx.manager().query(
      `UPDATE sign_in_challenge SET failed_attempts = failed_attempts + 1
        WHERE id = $1 AND consumed_at IS NULL AND expires_at > now() AND failed_attempts < $2`,
      [challengeId, CHALLENGE_MAX_FAILURES],
    )) as [unknown, number];
    if (count !== 1) throw challengeExpired();
  }

  /** Uses the challenge up, atomically: of two concurrent uses only one gets past this. */
  async consume(manager: EntityManager, challenge: ChallengeEntity): Promise<void> {
    const [, count] = (await manager.query(
      `UPDATE sign_in_challenge SET consumed_at = now() WHERE id = $1 AND consumed_at IS NULL AND expires_at > now()`,
      [challenge.id],
    )) as [unknown, number];
    if (count !== 1) throw challengeExpired();
  }

  /** After a step completes, the user's other open challenges die (they were issued for an older state). */
  async retireOthers(manager: EntityManager, userId: string, keepId?: string): Promise<void> {
    await manager.query(
      `UPDATE sign_in_challenge SET consumed_at = now() WHERE user_id = $1 AND consumed_at IS NULL AND id IS DISTINCT FROM $2`,
      [userId, keepId ?? null],
    );
  }
}
