import { Inject, Injectable } from '@nestjs/common';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { keyedDigest } from '../../../common/crypto/digest';
import { RequestContext } from '../../../common/context/request-context';
import type { StaffPrincipal } from '../../../common/context/principal';
import { BadUserInputError, UnauthenticatedError } from '../../../common/errors/app-error';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { TransactionService } from '../../../database/transaction.service';
import { SignInStep } from '../entities/challenge.entity';
import { UserEntity } from '../entities/user.entity';
import type { LoginChallenge, Session, TotpEnrollment } from '../models/auth.model';
import { PasswordHasher } from '../passwords/password-hasher';
import { checkNewPassword } from '../passwords/password-policy';
import { toUserModel } from '../users/user.mapper';
import { ChallengeService, invalidCode } from './challenge.service';
import { LockoutService, normalizeEmail, type FailureKind } from './lockout.service';
import { newRecoveryCode, normalizeRecoveryCode } from './secrets';
import { SessionService } from './session.service';
import { TotpSecretStore } from './totp-secret.store';
import { TotpService } from './totp.service';

export const RECOVERY_CODE_COUNT = 10;

const invalidCredentials = () => new UnauthenticatedError('Invalid e-mail or password', { reason: 'INVALID_CREDENTIALS' });

/**
 * Staff sign-in: password → (forced password change) → TOTP enrollment or TOTP/recovery code → session.
 * `login` never returns tokens. Every failed secret counts toward the lockout and is audited.
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
    await this.lockout.assertNotLocked(emailNormalized, this.context.ip);
    const user = await this.tx.manager().findOneBy(UserEntity, { emailNormalized });
    // Unknown accounts cost the same argon2 work as known ones, so timing does not reveal which exist.
    const passwordOk = user ? await this.hasher.verify(user.passwordHash, password) : await this.hasher.burnTime(password);
    if (!user || !passwordOk || user.disabledAt) {
      await this.fail(emailNormalized, 'PASSWORD', 'auth.login', user?.id ?? null, { reason: !user ? 'unknown_account' : user.disabledAt ? 'disabled' : 'wrong_password' });
      throw invalidCredentials();
    }
    return this.tx.run(async (manager) => {
      if (this.hasher.needsRehash(user.passwordHash)) {
        await manager.update(UserEntity, { id: user.id }, { passwordHash: await this.hasher.hash(password) });
      }
      const next = user.passwordChangeRequired
        ? SignInStep.PASSWORD_CHANGE_REQUIRED
        : user.totpSecret ? SignInStep.TOTP_REQUIRED : SignInStep.ENROLLMENT_REQUIRED;
      const challenge = await this.challenges.issue(manager, user.id, next);
      await this.audit.record({ action: 'auth.login', outcome: 'SUCCESS', resourceType: 'User', resourceId: user.id, actor: { type: 'USER', id: user.id, role: user.role }, details: { next } });
      return challenge;
    });
  }

  async completePasswordChange(challengeToken: string, newPassword: string): Promise<LoginChallenge> {
    const { challenge, user } = await this.challenges.open(challengeToken, SignInStep.PASSWORD_CHANGE_REQUIRED);
    const problem = await checkNewPassword(newPassword, { currentHash: user.passwordHash });
    if (problem) throw new BadUserInputError(`newPassword ${problem}`, [{ path: 'newPassword', message: problem }]);
    return this.tx.run(async (manager) => {
      await this.challenges.consume(manager, challenge);
      await manager.update(UserEntity, { id: user.id }, { passwordHash: await this.hasher.hash(newPassword), passwordChangeRequired: false });
      await this.audit.record({ action: 'auth.password_change', outcome: 'SUCCESS', resourceType: 'User', resourceId: user.id, actor: { type: 'USER', id: user.id, role: user.role }, details: { via: 'sign_in' } });
      return this.challenges.issue(manager, user.id, user.totpSecret ? SignInStep.TOTP_REQUIRED : SignInStep.ENROLLMENT_REQUIRED);
    });
  }

  async beginTotpEnrollment(challengeToken: string): Promise<TotpEnrollment> {
    const { challenge, user } = await this.challenges.open(challengeToken, SignInStep.ENROLLMENT_REQUIRED);
    const secret = this.totp.newSecret();
    const sealed = this.secrets.seal(user, secret, { table: 'sign_in_challenge', column: 'pending_totp_secret', rowId: challenge.id });
    await this.tx.manager().query(`UPDATE sign_in_challenge SET pending_totp_secret = $2 WHERE id = $1`, [challenge.id, sealed]);
    await this.audit.record({ action: 'auth.totp_enrollment_begin', outcome: 'SUCCESS', resourceType: 'User', resourceId: user.id, actor: { type: 'USER', id: user.id, role: user.role } });
    return { secret, otpauthUri: this.totp.uri(secret, user.email) };
  }

  async completeTotpEnrollment(challengeToken: string, code: string): Promise<Session> {
    const { challenge, user } = await this.challenges.open(challengeToken, SignInStep.ENROLLMENT_REQUIRED);
    await this.lockout.assertNotLocked(user.emailNormalized, this.context.ip);
    if (!challenge.pendingTotpSecret) {
      throw new BadUserInputError('Call beginTotpEnrollment first', [{ path: 'challengeToken', message: 'has no enrollment in progress' }]);
    }
    const secret = this.secrets.open(user, challenge.pendingTotpSecret, { table: 'sign_in_challenge', column: 'pending_totp_secret', rowId: challenge.id });
    const step = await this.totp.matchStep(secret, String(code ?? ''));
    if (step === null) await this.wrongCode(challenge.id, user, 'TOTP', 'auth.totp_enrollment');
    const recoveryCodes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const session = await this.tx.run(async (manager) => {
      await this.challenges.consume(manager, challenge);
      await manager.update(UserEntity, { id: user.id }, {
        totpSecret: this.secrets.seal(user, secret, { table: 'app_user', column: 'totp_secret', rowId: user.id }),
        totpLastStep: String(step),
        totpEnrolledAt: new Date(),
      });
      await manager.query(`DELETE FROM recovery_code WHERE user_id = $1`, [user.id]);
      for (const rc of recoveryCodes) {
        await manager.query(`INSERT INTO recovery_code (user_id, code_digest) VALUES ($1, $2)`, [user.id, this.recoveryDigest(rc)]);
      }
      const issued = await this.sessions.open(manager, user);
      await this.audit.record({ action: 'auth.totp_enrolled', outcome: 'SUCCESS', resourceType: 'User', resourceId: user.id, actor: this.actor(user, issued.sessionId) });
      return issued;
    });
    return { ...session, user: toUserModel(user, { full: true }), recoveryCodes };
  }

  async verifyTotp(challengeToken: string, code: string): Promise<Session> {
    const { challenge, user } = await this.challenges.open(challengeToken, SignInStep.TOTP_REQUIRED);
    await this.lockout.assertNotLocked(user.emailNormalized, this.context.ip);
    const step = user.totpSecret ? await this.totp.matchStep(this.secrets.open(user, user.totpSecret, { table: 'app_user', column: 'totp_secret', rowId: user.id }), String(code ?? '')) : null;
    if (step === null || !(await this.acceptStep(user.id, step))) await this.wrongCode(challenge.id, user, 'TOTP', 'auth.totp_verify');
    return this.finish(challenge, user, 'auth.totp_verify');
  }

  async useRecoveryCode(challengeToken: string, recoveryCode: string): Promise<Session> {
    const { challenge, user } = await this.challenges.open(challengeToken, SignInStep.TOTP_REQUIRED);
    await this.lockout.assertNotLocked(user.emailNormalized, this.context.ip);
    const normalized = normalizeRecoveryCode(String(recoveryCode ?? ''));
    const [rows] = (await this.tx.manager().query(
      `UPDATE recovery_code SET used_at = now() WHERE user_id = $1 AND code_digest = $2 AND used_at IS NULL RETURNING id`,
      [user.id, this.recoveryDigest(normalized)],
    )) as [Array<{ id: string }>, number];
    if (!rows.length) await this.wrongCode(challenge.id, user, 'RECOVERY_CODE', 'auth.recovery_code', 'recoveryCode');
    const [{ left }] = (await this.tx.manager().query(`SELECT count(*)::int AS left FROM recovery_code WHERE user_id = $1 AND used_at IS NULL`, [user.id])) as Array<{ left: number }>;
    return this.finish(challenge, user, 'auth.recovery_code', { recoveryCodesLeft: left });
  }

  /** `stepUp(code)`: a fresh TOTP code unlocks step-up PII fields for 10 minutes on this session. */
  async stepUp(principal: StaffPrincipal, code: string): Promise<{ expiresAt: Date }> {
    const user = await this.tx.manager().findOneByOrFail(UserEntity, { id: principal.userId });
    await this.lockout.assertNotLocked(user.emailNormalized, this.context.ip);
    const step = user.totpSecret ? await this.totp.matchStep(this.secrets.open(user, user.totpSecret, { table: 'app_user', column: 'totp_secret', rowId: user.id }), String(code ?? '')) : null;
    if (step === null || !(await this.acceptStep(user.id, step))) {
      await this.fail(user.emailNormalized, 'STEP_UP', 'auth.step_up', user.id, { reason: 'invalid_code' });
      throw invalidCode();
    }
    const expiresAt = await this.sessions.markStepUp(principal.sessionId);
    await this.audit.record({ action: 'auth.step_up', outcome: 'SUCCESS', resourceType: 'Session', resourceId: principal.sessionId, details: { expiresAt: expiresAt.toISOString() } });
    return { expiresAt };
  }

  private async finish(challenge: { id: string } & Parameters<ChallengeService['consume']>[1], user: UserEntity, action: string, details: Record<string, unknown> = {}): Promise<Session> {
    const session = await this.tx.run(async (manager) => {
      await this.challenges.consume(manager, challenge);
      const issued = await this.sessions.open(manager, user);
      await this.audit.record({ action, outcome: 'SUCCESS', resourceType: 'User', resourceId: user.id, actor: this.actor(user, issued.sessionId), details });
      return issued;
    });
    return { ...session, user: toUserModel(user, { full: true }), recoveryCodes: null };
  }

  /** Accepts a TOTP step only if it is newer than the last one accepted: each code works once. */
  private async acceptStep(userId: string, step: number): Promise<boolean> {
    const [, count] = (await this.tx.manager().query(
      `UPDATE app_user SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)`,
      [userId, step],
    )) as [unknown, number];
    return count === 1;
  }

  private async wrongCode(challengeId: string, user: UserEntity, kind: FailureKind, action: string, path = 'code'): Promise<never> {
    await this.challenges.countFailure(challengeId);
    await this.fail(user.emailNormalized, kind, action, user.id, { reason: 'invalid_code' });
    throw invalidCode(path);
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

  private actor(user: UserEntity, sessionId: string) {
    return { type: 'USER' as const, id: user.id, role: user.role, sessionId };
  }
}
