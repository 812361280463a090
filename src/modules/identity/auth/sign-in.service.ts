import { Inject, Injectable } from '@nestjs/common';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { keyedDigest } from '../../../common/crypto/digest';
import { RequestContext } from '../../../common/context/request-context';
import type { StaffPrincipal } from '../../../common/context/principal';
import { BadUserInputError, UnauthenticatedError } from '../../../common/errors/app-error';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { CommitThenThrow, TransactionService } from '../../../database/transaction.service';
import { ChallengeEntity, SignInStep } from '../entities/challenge.entity';
import { UserEntity } from '../entities/user.entity';
import type { LoginChallenge, Session, TotpEnrollment } from '../models/auth.model';
import { PasswordHasher } from '../passwords/password-hasher';
import { checkNewPassword } from '../passwords/password-policy';
import { toUserModel } from '../users/user.mapper';
import { CHALLENGE_MAX_FAILURES, ChallengeService, challengeExpired, invalidCode } from './challenge.service';
import { LockoutService, normalizeEmail, type FailureKind } from './lockout.service';
import { newRecoveryCode, normalizeRecoveryCode } from './secrets';
import { SessionService } from './session.service';
import { TotpSecretStore } from './totp-secret.store';
import { TotpService } from './totp.service';

export const RECOVERY_CODE_COUNT = 10;

const invalidCredentials = () => new UnauthenticatedError('Invalid e-mail or password', { reason: 'INVALID_CREDENTIALS' });
const TOTP_SLOT = (user: UserEntity) => ({ table: 'app_user' as const, column: 'totp_secret' as const, rowId: user.id });

/**
 * Staff sign-in: password → (forced password change) → TOTP enrollment or TOTP/recovery code → session.
 * `login` never returns tokens. Each attempt runs in one transaction holding the account's lock, from the
 * lockout check to recording the outcome; failures are committed (counted, audited) and then raised.
 */
@Injectable()
export class SignInService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tx: TransactionService,
    private readonly hasher: PasswordHasher,
    private readonly lockout: LockoutService,
    private readonly challenges: ChallengeService,
    private readonly sessions: SessionService,
    private readonly totp: TotpService,
    private readonly secrets: TotpSecretStore,
    private readonly context: RequestContext,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  async login(email: string, password: string): Promise<LoginChallenge> {
    const emailNormalized = normalizeEmail(email);
    return this.tx.run(async (manager) => {
      const user = await manager.findOneBy(UserEntity, { emailNormalized });
      await this.guardAttempt(emailNormalized, user, 'auth.login');
      // Unknown accounts cost the same argon2 work as known ones, so timing does not reveal which exist.
      const passwordOk = user ? await this.hasher.verify(user.passwordHash, password) : await this.hasher.burnTime(password);
      if (!user || !passwordOk || user.disabledAt) {
        await this.fail(emailNormalized, 'PASSWORD', 'auth.login', user?.id ?? null, { reason: !user ? 'unknown_account' : user.disabledAt ? 'disabled' : 'wrong_password' });
        throw new CommitThenThrow(invalidCredentials());
      }
      if (this.hasher.needsRehash(user.passwordHash)) {
        await manager.update(UserEntity, { id: user.id }, { passwordHash: await this.hasher.hash(password) });
      }
      const next = user.passwordChangeRequired
        ? SignInStep.PASSWORD_CHANGE_REQUIRED
        : user.totpSecret ? SignInStep.TOTP_REQUIRED : SignInStep.ENROLLMENT_REQUIRED;
      const challenge = await this.challenges.issue(manager, user.id, next);
      await this.audit.record({ action: 'auth.login', outcome: 'SUCCESS', resourceType: 'User', resourceId: user.id, actor: this.actor(user), details: { next } });
      return challenge;
    });
  }

  async completePasswordChange(challengeToken: string, newPassword: string): Promise<LoginChallenge> {
    const { challenge, user } = await this.challenges.open(challengeToken, SignInStep.PASSWORD_CHANGE_REQUIRED);
    const problem = await checkNewPassword(newPassword, { currentHash: user.passwordHash });
    if (problem) throw new BadUserInputError(`newPassword ${problem}`, [{ path: 'newPassword', message: problem }]);
    const passwordHash = await this.hasher.hash(newPassword);
    return this.tx.run(async (manager) => {
      await this.lockout.serialize(user.emailNormalized);
      await this.challenges.consume(manager, challenge);
      const [, changed] = (await manager.query(
        `UPDATE app_user SET password_hash = $2, password_change_required = false, updated_at = now() WHERE id = $1 AND password_change_required`,
        [user.id, passwordHash],
      )) as [unknown, number];
      if (changed !== 1) throw new UnauthenticatedError('The sign-in challenge has expired; sign in again', { reason: 'CHALLENGE_EXPIRED' });
      await this.challenges.retireOthers(manager, user.id);
      await this.audit.record({ action: 'auth.password_change', outcome: 'SUCCESS', resourceType: 'User', resourceId: user.id, actor: this.actor(user), details: { via: 'sign_in' } });
      return this.challenges.issue(manager, user.id, user.totpSecret ? SignInStep.TOTP_REQUIRED : SignInStep.ENROLLMENT_REQUIRED);
    });
  }

  async beginTotpEnrollment(challengeToken: string): Promise<TotpEnrollment> {
    const { challenge, user } = await this.challenges.open(challengeToken, SignInStep.ENROLLMENT_REQUIRED);
    const secret = this.totp.newSecret();
    const sealed = this.secrets.seal(user, secret, { table: 'sign_in_challenge', column: 'pending_totp_secret', rowId: challenge.id });
    // The new pending secret and its audit entry commit together; a challenge that died since it was read
    // (used, expired, out of attempts) is refused by the same statement.
    await this.tx.run(async (manager) => {
      const [, changed] = (await manager.query(
        `UPDATE sign_in_challenge SET pending_totp_secret = $2 WHERE id = $1 AND consumed_at IS NULL AND expires_at > now() AND failed_attempts < $3`,
        [challenge.id, sealed, CHALLENGE_MAX_FAILURES],
      )) as [unknown, number];
      if (changed !== 1) throw challengeExpired();
      await this.audit.record({ action: 'auth.totp_enrollment_begin', outcome: 'SUCCESS', resourceType: 'User', resourceId: user.id, actor: this.actor(user) });
    });
    return { secret, otpauthUri: this.totp.uri(secret, user.email) };
  }

  async completeTotpEnrollment(challengeToken: string, code: string): Promise<Session> {
    const { challenge, user } = await this.challenges.open(challengeToken, SignInStep.ENROLLMENT_REQUIRED);
    if (!challenge.pendingTotpSecret) {
      throw new BadUserInputError('Call beginTotpEnrollment first', [{ path: 'challengeToken', message: 'has no enrollment in progress' }]);
    }
    const recoveryCodes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const session = await this.tx.run(async (manager) => {
      await this.checkCode(challenge, user, 'TOTP', 'auth.totp_enrollment', async () => {
        const pending = await manager.findOneByOrFail(ChallengeEntity, { id: challenge.id });
        const secret = this.secrets.open(user, pending.pendingTotpSecret!, { table: 'sign_in_challenge', column: 'pending_totp_secret', rowId: challenge.id });
        const step = await this.totp.matchStep(secret, String(code ?? ''));
        if (step === null) return false;
        const [, enrolled] = (await manager.query(
          `UPDATE app_user SET totp_secret = $2, totp_last_step = $3, totp_enrolled_at = now(), updated_at = now() WHERE id = $1 AND totp_secret IS NULL`,
          [user.id, this.secrets.seal(user, secret, TOTP_SLOT(user)), step],
        )) as [unknown, number];
        if (enrolled !== 1) throw new UnauthenticatedError('The sign-in challenge has expired; sign in again', { reason: 'CHALLENGE_EXPIRED' });
        return true;
      });
      await manager.query(`DELETE FROM recovery_code WHERE user_id = $1`, [user.id]);
      for (const rc of recoveryCodes) {
        await manager.query(`INSERT INTO recovery_code (user_id, code_digest) VALUES ($1, $2)`, [user.id, this.recoveryDigest(rc)]);
      }
      return this.openSession(challenge, user, 'auth.totp_enrolled');
    });
    return { ...session, recoveryCodes };
  }

  async verifyTotp(challengeToken: string, code: string): Promise<Session> {
    const { challenge, user } = await this.challenges.open(challengeToken, SignInStep.TOTP_REQUIRED);
    return this.tx.run(async () => {
      await this.checkCode(challenge, user, 'TOTP', 'auth.totp_verify', () => this.totpMatches(user, code));
      return this.openSession(challenge, user, 'auth.totp_verify');
    });
  }

  async useRecoveryCode(challengeToken: string, recoveryCode: string): Promise<Session> {
    const { challenge, user } = await this.challenges.open(challengeToken, SignInStep.TOTP_REQUIRED);
    return this.tx.run(async (manager) => {
      await this.checkCode(challenge, user, 'RECOVERY_CODE', 'auth.recovery_code', async () => {
        const [rows] = (await manager.query(
          `UPDATE recovery_code SET used_at = now() WHERE user_id = $1 AND code_digest = $2 AND used_at IS NULL RETURNING id`,
          [user.id, this.recoveryDigest(String(recoveryCode ?? ''))],
        )) as [Array<{ id: string }>, number];
        return rows.length === 1;
      }, 'recoveryCode');
      const [{ left }] = (await manager.query(`SELECT count(*)::int AS left FROM recovery_code WHERE user_id = $1 AND used_at IS NULL`, [user.id])) as Array<{ left: number }>;
      return this.openSession(challenge, user, 'auth.recovery_code', { recoveryCodesLeft: left });
    });
  }

  /** `stepUp(code)`: a fresh TOTP code unlocks step-up PII fields for 10 minutes on this session. */
  async stepUp(principal: StaffPrincipal, code: string): Promise<{ expiresAt: Date }> {
    return this.tx.run(async (manager) => {
      const user = await manager.findOneByOrFail(UserEntity, { id: principal.userId });
      await this.guardAttempt(user.emailNormalized, user, 'auth.step_up');
      if (!(await this.totpMatches(user, code))) {
        await this.fail(user.emailNormalized, 'STEP_UP', 'auth.step_up', user.id, { reason: 'invalid_code' });
        throw new CommitThenThrow(invalidCode());
      }
      const expiresAt = await this.sessions.markStepUp(principal.sessionId);
      await this.audit.record({ action: 'auth.step_up', outcome: 'SUCCESS', resourceType: 'Session', resourceId: principal.sessionId, details: { expiresAt: expiresAt.toISOString() } });
      return { expiresAt };
    });
  }

  /**
   * Lock, lockout check, one reserved challenge attempt, then the check itself; a wrong code is counted
   * toward the lockout and audited, committed, and raised as INVALID_CODE.
   */
  private async checkCode(challenge: ChallengeEntity, user: UserEntity, kind: FailureKind, action: string, matches: () => Promise<boolean>, path = 'code'): Promise<void> {
    await this.guardAttempt(user.emailNormalized, user, action);
    await this.challenges.reserveAttempt(challenge.id);
    if (await matches()) return;
    await this.fail(user.emailNormalized, kind, action, user.id, { reason: 'invalid_code' });
    throw new CommitThenThrow(invalidCode(path));
  }

  /** Takes the account's lock for this transaction and refuses (audited) while it or the IP is locked out. */
  private async guardAttempt(emailNormalized: string, user: UserEntity | null, action: string): Promise<void> {
    await this.lockout.serialize(emailNormalized);
    const lock = await this.lockout.lockedFor(emailNormalized, this.context.ip);
    if (!lock.seconds) return;
    await this.audit.record({ action, outcome: 'DENIED', resourceType: 'User', resourceId: user?.id ?? null, actor: this.actorOrAnonymous(user), details: { reason: lock.scope === 'ACCOUNT' ? 'account_locked' : 'ip_throttled' } });
    throw new CommitThenThrow(this.lockout.lockedError(lock));
  }

  private async totpMatches(user: UserEntity, code: string): Promise<boolean> {
    if (!user.totpSecret) return false;
    const step = await this.totp.matchStep(this.secrets.open(user, user.totpSecret, TOTP_SLOT(user)), String(code ?? ''));
    if (step === null) return false;
    // Each step is accepted once: only a step newer than the last accepted one gets through.
    const [, count] = (await this.tx.manager().query(
      `UPDATE app_user SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)`,
      [user.id, step],
    )) as [unknown, number];
    return count === 1;
  }

  private async openSession(challenge: ChallengeEntity, user: UserEntity, action: string, details: Record<string, unknown> = {}): Promise<Session> {
    const manager = this.tx.manager();
    await this.challenges.consume(manager, challenge);
    await this.challenges.retireOthers(manager, user.id);
    const issued = await this.sessions.open(manager, user);
    await this.audit.record({ action, outcome: 'SUCCESS', resourceType: 'User', resourceId: user.id, actor: { ...this.actor(user), sessionId: issued.sessionId }, details });
    const fresh = await manager.findOneByOrFail(UserEntity, { id: user.id });
    return { ...issued, user: toUserModel(fresh), recoveryCodes: null };
  }

  private async fail(emailNormalized: string, kind: FailureKind, action: string, userId: string | null, details: Record<string, unknown>): Promise<void> {
    const locked = await this.lockout.recordFailure(emailNormalized, this.context.ip, kind);
    const actor = { type: userId ? ('USER' as const) : ('ANONYMOUS' as const), id: userId };
    await this.audit.record({ action, outcome: 'DENIED', resourceType: 'User', resourceId: userId, actor, details: { ...details, kind } });
    if (locked) await this.audit.record({ action: 'auth.lockout', outcome: 'DENIED', resourceType: 'User', resourceId: userId, actor, details: { kind } });
  }

  private recoveryDigest(code: string): string {
    return keyedDigest(this.config.keys.token, 'recovery-code', normalizeRecoveryCode(code));
  }

  private actor(user: UserEntity) {
    return { type: 'USER' as const, id: user.id, role: user.role };
  }

  private actorOrAnonymous(user: UserEntity | null) {
    return user ? this.actor(user) : { type: 'ANONYMOUS' as const, id: null };
  }
}
