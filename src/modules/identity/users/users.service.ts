import type { EntityManager } from 'typeorm';
import { Inject, Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { dataKeyOwner } from '../../../common/crypto/envelope';
import { PiiVault } from '../../../common/crypto/pii-vault.service';
import { Role, type StaffPrincipal } from '../../../common/context/principal';
import { BadUserInputError, ConflictError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { paginate } from '../../../common/pagination/paginate';
import { CommitThenThrow, TransactionService } from '../../../database/transaction.service';
import { ChallengeService } from '../auth/challenge.service';
import { SessionService } from '../auth/session.service';
import { LockoutService, normalizeEmail } from '../auth/lockout.service';
import { RequestContext } from '../../../common/context/request-context';
import type { CreateUserInput, UpdateUserInput, UsersFilter } from '../dto/identity.inputs';
import { UserEntity } from '../entities/user.entity';
import { PasswordHasher } from '../passwords/password-hasher';
import { checkNewPassword } from '../passwords/password-policy';

/** Staff accounts: creation, role and state changes, MFA and password resets (ADMIN), own password change. */
@Injectable()
export class UsersService {
  constructor(
    private readonly tx: TransactionService,
    private readonly hasher: PasswordHasher,
    private readonly vault: PiiVault,
    private readonly sessions: SessionService,
    private readonly challenges: ChallengeService,
    private readonly lockout: LockoutService,
    private readonly context: RequestContext,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  async findById(id: string): Promise<UserEntity> {
    if (!isUUID(id)) throw BadUserInputError.field('id', 'is not a valid id');
    const user = await this.tx.manager().findOneBy(UserEntity, { id });
    if (!user) throw new NotFoundError('User');
    return user;
  }

  async findManyByIds(ids: readonly string[]): Promise<UserEntity[]> {
    if (!ids.length) return [];
    return this.tx.manager().createQueryBuilder(UserEntity, 'u').where('u.id IN (:...ids)', { ids: [...ids] }).getMany();
  }

  /**
   * A user about to be made a customer's account manager, read under a share lock in the caller's
   * transaction: a concurrent role change (which locks the row for update) waits for the assignment to
   * commit and then sees it, and the assignment never sees a role being changed away.
   */
  async forAssignment(id: string): Promise<UserEntity | null> {
    return this.tx.manager().createQueryBuilder(UserEntity, 'u').where('u.id = :id', { id }).setLock('pessimistic_read').getOne();
  }

  /** The ids of every active user with this role (the recipients of a notice to, say, every compliance officer). */
  async activeIdsWithRole(role: Role): Promise<string[]> {
    const rows = (await this.tx.manager().query(`SELECT id FROM app_user WHERE role = $1 AND disabled_at IS NULL ORDER BY id`, [role])) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  async list(filter: UsersFilter | undefined, page: PageArgs): Promise<ConnectionShape<UserEntity>> {
    const query = this.tx.manager().createQueryBuilder(UserEntity, 'u');
    if (filter?.role) query.andWhere('u.role = :role', { role: filter.role });
    if (filter?.disabled !== undefined && filter.disabled !== null) query.andWhere(filter.disabled ? 'u.disabled_at IS NOT NULL' : 'u.disabled_at IS NULL');
    return paginate(query, page, {
      keys: [
        { column: 'u.created_at', kind: 'timestamptz', value: (u) => u.createdAt.toISOString() },
        { column: 'u.id', kind: 'uuid', value: (u) => u.id },
      ],
    });
  }

  /** Creates a staff user whose admin-set password must be replaced at first sign-in. */
  async create(input: CreateUserInput, options: { passwordChangeRequired?: boolean; action?: string } = {}): Promise<UserEntity> {
    const problem = await checkNewPassword(input.initialPassword);
    if (problem) throw new BadUserInputError(`initialPassword ${problem}`, [{ path: 'initialPassword', message: problem }]);
    const passwordHash = await this.hasher.hash(input.initialPassword);
    return this.tx.run(async (manager) => {
      const emailNormalized = normalizeEmail(input.email);
      if (await manager.existsBy(UserEntity, { emailNormalized })) throw new ConflictError('A user with this e-mail already exists', { field: 'email' });
      const id = (await manager.query('SELECT gen_random_uuid() AS id'))[0].id as string;
      const { wrapped } = this.vault.newDataKey(dataKeyOwner.user(id));
      await manager.insert(UserEntity, {
        id,
        email: input.email.trim(),
        emailNormalized,
        displayName: input.displayName,
        role: input.role,
        passwordHash,
        passwordChangeRequired: options.passwordChangeRequired ?? true,
        dataKey: wrapped,
      });
      await this.audit.record({ action: options.action ?? 'user.create', outcome: 'SUCCESS', resourceType: 'User', resourceId: id, details: { role: input.role } });
      return manager.findOneByOrFail(UserEntity, { id });
    });
  }

  async update(actor: StaffPrincipal, userId: string, input: UpdateUserInput): Promise<UserEntity> {
    const user = await this.findById(userId);
    // The stored id, not the argument: an upper-case spelling of one's own id is the same account.
    const id = user.id;
    if (id === actor.userId && (input.disabled === true || (input.role && input.role !== user.role))) {
      throw new ConflictError('You cannot disable your own account or change your own role');
    }
    return this.tx.run(async (manager) => {
      const changes: Partial<UserEntity> = {};
      if (input.displayName !== undefined) changes.displayName = input.displayName;
      if (input.role) changes.role = input.role;
      if (user.role === Role.ACCOUNT_MANAGER && changes.role && changes.role !== Role.ACCOUNT_MANAGER) await this.assertNoCustomersManaged(manager, id);
      if (input.disabled !== undefined) changes.disabledAt = input.disabled ? (user.disabledAt ?? new Date()) : null;
      if (user.role === Role.ADMIN && (changes.role && changes.role !== Role.ADMIN || input.disabled === true)) await this.assertAnotherAdmin(user.id);
      if (Object.keys(changes).length) await manager.update(UserEntity, { id }, changes);
      if (input.disabled === true) await this.sessions.revokeAllFor(id, 'USER_DISABLED');
      // The new role applies on the next request; a step-up earned under the old role does not carry over.
      if (changes.role && changes.role !== user.role) await manager.query(`UPDATE auth_session SET step_up_until = NULL WHERE user_id = $1`, [id]);
      await this.audit.record({ action: 'user.update', outcome: 'SUCCESS', resourceType: 'User', resourceId: id, details: { changed: Object.keys(changes), role: changes.role } });
      return manager.findOneByOrFail(UserEntity, { id });
    });
  }

  /**
   * An account manager keeps the role while customers are theirs: their holds and alerts would otherwise go on
   * reaching someone whose new role may not read them (SPEC §4). The row lock orders this against an
   * assignment in flight ({@link forAssignment}).
   */
  private async assertNoCustomersManaged(manager: EntityManager, id: string): Promise<void> {
    await manager.query(`SELECT id FROM app_user WHERE id = $1 FOR UPDATE`, [id]);
    const [{ managed }] = (await manager.query(`SELECT count(*)::int AS managed FROM customer WHERE account_manager_id = $1 AND status <> 'ERASED'`, [id])) as Array<{ managed: number }>;
    if (managed > 0) {
      throw new ConflictError(`This user is the account manager of ${managed} customer${managed === 1 ? '' : 's'}: assign them to another account manager before changing the role`, { field: 'role' });
    }
  }

  async resetMfa(id: string): Promise<UserEntity> {
    await this.findById(id);
    return this.tx.run(async (manager) => {
      await manager.update(UserEntity, { id }, { totpSecret: null, totpLastStep: null, totpEnrolledAt: null });
      await manager.query(`DELETE FROM recovery_code WHERE user_id = $1`, [id]);
      await manager.query(`UPDATE sign_in_challenge SET consumed_at = now() WHERE user_id = $1 AND consumed_at IS NULL`, [id]);
      const revoked = await this.sessions.revokeAllFor(id, 'MFA_RESET');
      await this.audit.record({ action: 'user.reset_mfa', outcome: 'SUCCESS', resourceType: 'User', resourceId: id, details: { sessionsRevoked: revoked } });
      return manager.findOneByOrFail(UserEntity, { id });
    });
  }

  async resetPassword(id: string, newPassword: string): Promise<UserEntity> {
    const user = await this.findById(id);
    const problem = await checkNewPassword(newPassword, { currentHash: user.passwordHash });
    if (problem) throw new BadUserInputError(`newPassword ${problem}`, [{ path: 'newPassword', message: problem }]);
    const passwordHash = await this.hasher.hash(newPassword);
    return this.tx.run(async (manager) => {
      await manager.update(UserEntity, { id }, { passwordHash, passwordChangeRequired: true });
      await manager.query(`UPDATE sign_in_challenge SET consumed_at = now() WHERE user_id = $1 AND consumed_at IS NULL`, [id]);
      const revoked = await this.sessions.revokeAllFor(id, 'PASSWORD_RESET');
      await this.audit.record({ action: 'user.reset_password', outcome: 'SUCCESS', resourceType: 'User', resourceId: id, details: { sessionsRevoked: revoked } });
      return manager.findOneByOrFail(UserEntity, { id });
    });
  }

  /** The signed-in user's own change: the current password must be right; other sessions and open sign-ins end. */
  async changeOwnPassword(actor: StaffPrincipal, currentPassword: string, newPassword: string): Promise<void> {
    const user = await this.findById(actor.userId);
    // A wrong current password counts toward the lockout like a wrong sign-in: a stolen session must not
    // become an unlimited password oracle.
    await this.tx.run(async () => {
      await this.lockout.serialize(user.emailNormalized);
      const lock = await this.lockout.lockedFor(user.emailNormalized, this.context.ip);
      if (lock.seconds) {
        // RATE_LIMITED refusals leave no mutation.failed entry; this one is a password attempt while locked out.
        await this.audit.record({ action: 'user.change_password', outcome: 'DENIED', resourceType: 'User', resourceId: user.id, details: { reason: lock.scope === 'ACCOUNT' ? 'account_locked' : 'ip_throttled' } });
        throw new CommitThenThrow(this.lockout.lockedError(lock));
      }
      if (await this.hasher.verify(user.passwordHash, String(currentPassword ?? ''))) return;
      const locked = await this.lockout.recordFailure(user.emailNormalized, this.context.ip, 'PASSWORD');
      await this.audit.record({ action: 'user.change_password', outcome: 'DENIED', resourceType: 'User', resourceId: user.id, details: { reason: 'wrong_current_password' } });
      if (locked) await this.audit.record({ action: 'auth.lockout', outcome: 'DENIED', resourceType: 'User', resourceId: user.id, details: { kind: 'PASSWORD' } });
      throw new CommitThenThrow(new BadUserInputError('currentPassword is incorrect', [{ path: 'currentPassword', message: 'is incorrect' }]));
    });
    const problem = await checkNewPassword(newPassword, { currentHash: user.passwordHash });
    if (problem) throw new BadUserInputError(`newPassword ${problem}`, [{ path: 'newPassword', message: problem }]);
    const passwordHash = await this.hasher.hash(newPassword);
    await this.tx.run(async (manager) => {
      await manager.update(UserEntity, { id: user.id }, { passwordHash, passwordChangeRequired: false });
      // A sign-in begun with the old password (perhaps by whoever learnt it) must not finish with a code.
      await this.challenges.retireOthers(manager, user.id);
      const revoked = await this.sessions.revokeAllFor(user.id, 'PASSWORD_CHANGED', actor.sessionId);
      await this.audit.record({ action: 'user.change_password', outcome: 'SUCCESS', resourceType: 'User', resourceId: user.id, details: { otherSessionsRevoked: revoked } });
    });
  }

  async count(): Promise<number> {
    return this.tx.manager().count(UserEntity);
  }

  /**
   * Inside the caller's transaction. Serialised by a transaction-scoped advisory lock: two admins disabling
   * or demoting each other at once would otherwise each count the other as active and both commit.
   */
  private async assertAnotherAdmin(exceptId: string): Promise<void> {
    await this.tx.manager().query(`SELECT pg_advisory_xact_lock(hashtextextended('custos.admins', 0))`);
    const [{ n }] = (await this.tx.manager().query(
      `SELECT count(*)::int AS n FROM app_user WHERE role = 'ADMIN' AND disabled_at IS NULL AND id <> $1`,
      [exceptId],
    )) as Array<{ n: number }>;
    if (n === 0) throw new ConflictError('The last active ADMIN cannot be disabled or demoted');
  }
}
