import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { keyedDigest } from '../../../common/crypto/digest';
import { Role, type StaffPrincipal } from '../../../common/context/principal';
import { RequestContext } from '../../../common/context/request-context';
import { UnauthenticatedError } from '../../../common/errors/app-error';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { TransactionService } from '../../../database/transaction.service';
import { UserEntity } from '../entities/user.entity';
import { AccessTokenService } from './access-token.service';
import { newSecret } from './secrets';

/** A session lives at most this long; refresh tokens cannot extend it. */
export const SESSION_MAX_AGE_MS = 12 * 60 * 60_000;
export const STEP_UP_MS = 10 * 60_000;

export interface IssuedSession {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: Date;
  sessionId: string;
}

/**
 * Server-side sessions: an access token only names its session, which is looked up on every request, so
 * logout, disabling a user or resetting MFA take effect on the very next call. Refresh tokens rotate on
 * each use; presenting a used one means it was stolen or replayed, and the whole session is revoked.
 */
@Injectable()
export class SessionService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly tx: TransactionService,
    private readonly tokens: AccessTokenService,
    private readonly context: RequestContext,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  private digest(refreshToken: string): string {
    return keyedDigest(this.config.keys.token, 'refresh-token', refreshToken);
  }

  /** Opens a session for a user who has just passed every factor. Runs inside the caller's transaction. */
  async open(manager: EntityManager, user: UserEntity): Promise<IssuedSession> {
    const [session] = (await manager.query(
      `INSERT INTO auth_session (user_id, ip, user_agent, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4 / 1000.0)) RETURNING id`,
      [user.id, this.context.ip ?? null, this.context.userAgent ?? null, SESSION_MAX_AGE_MS],
    )) as Array<{ id: string }>;
    return this.issuePair(manager, user.id, session.id);
  }

  private async issuePair(manager: EntityManager, userId: string, sessionId: string): Promise<IssuedSession> {
    const refreshToken = newSecret('rt_');
    await manager.query(`INSERT INTO refresh_token (session_id, token_digest) VALUES ($1, $2)`, [sessionId, this.digest(refreshToken)]);
    const access = this.tokens.issue(userId, sessionId);
    return { accessToken: access.token, accessTokenExpiresAt: access.expiresAt, refreshToken, sessionId };
  }

  /**
   * Rotates the refresh token; reuse of a used one revokes the session. The rotation (or the revocation) and its
   * audit entry commit together: an entry that cannot be written leaves the old token unused, so the client's
   * retry rotates it instead of being taken for a reuse, and no revocation goes unrecorded. The user comes back
   * with the pair, read in the same transaction: once the old token is marked used nothing may fail after the
   * commit, or the client's retry would count as reuse.
   */
  async refresh(refreshToken: string): Promise<IssuedSession & { userId: string; user: UserEntity }> {
    const outcome = await this.tx.run(async (manager) => {
      const rotated = await this.rotate(manager, refreshToken);
      if ('pair' in rotated) {
        await this.audit.record({ action: 'auth.session_refresh', outcome: 'SUCCESS', resourceType: 'Session', resourceId: rotated.pair.sessionId, actor: { type: 'USER', id: rotated.pair.userId, sessionId: rotated.pair.sessionId } });
        return rotated;
      }
      const row = rotated.row;
      await this.audit.record({
        action: rotated.error === 'reuse' ? 'auth.refresh_token_reuse' : 'auth.session_refresh',
        outcome: 'DENIED',
        resourceType: 'Session',
        resourceId: row?.session_id ?? null,
        actor: { type: row ? 'USER' : 'ANONYMOUS', id: row?.user_id ?? null, sessionId: row?.session_id ?? null },
        details: { reason: rotated.error },
      });
      return rotated;
    });
    if ('pair' in outcome) return outcome.pair;
    throw new UnauthenticatedError(outcome.error === 'reuse' ? 'Refresh token already used: the session has been revoked' : 'Invalid or expired refresh token');
  }

  private async rotate(manager: EntityManager, refreshToken: string): Promise<
    | { pair: IssuedSession & { userId: string; user: UserEntity } }
    | { error: 'unknown' | 'reuse' | 'dead'; row?: { session_id: string; user_id: string } }
  > {
    const [row] = (await manager.query(
      `SELECT r.id, r.used_at, s.id AS session_id, s.user_id, s.revoked_at, s.expires_at, u.disabled_at
         FROM refresh_token r JOIN auth_session s ON s.id = r.session_id JOIN app_user u ON u.id = s.user_id
        WHERE r.token_digest = $1 FOR UPDATE OF r`,
      [this.digest(refreshToken)],
    )) as Array<{ id: string; used_at: Date | null; session_id: string; user_id: string; revoked_at: Date | null; expires_at: Date; disabled_at: Date | null }>;
    if (!row) return { error: 'unknown' };
    if (row.used_at) {
      await manager.query(`UPDATE auth_session SET revoked_at = now(), revoke_reason = 'REFRESH_TOKEN_REUSE' WHERE id = $1 AND revoked_at IS NULL`, [row.session_id]);
      return { error: 'reuse', row };
    }
    if (row.revoked_at || row.disabled_at || new Date(row.expires_at) <= new Date()) return { error: 'dead', row };
    await manager.query(`UPDATE refresh_token SET used_at = now() WHERE id = $1`, [row.id]);
    const pair = await this.issuePair(manager, row.user_id, row.session_id);
    const user = await manager.findOneByOrFail(UserEntity, { id: row.user_id });
    return { pair: { ...pair, userId: row.user_id, user } };
  }

  /** The staff principal for a valid access token whose session and user are still live. */
  async principalFor(accessToken: string): Promise<StaffPrincipal | null> {
    const claims = this.tokens.verify(accessToken);
    if (!claims) return null;
    const [row] = (await this.dataSource.query(
      `SELECT s.id, s.step_up_until, s.expires_at, u.id AS user_id, u.role
         FROM auth_session s JOIN app_user u ON u.id = s.user_id
        WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > now() AND u.disabled_at IS NULL`,
      [claims.sid, claims.sub],
    )) as Array<{ id: string; step_up_until: Date | null; expires_at: Date; user_id: string; role: Role }>;
    if (!row) return null;
    const validUntil = new Date(Math.min(claims.exp * 1000, new Date(row.expires_at).getTime()));
    return { kind: 'USER', userId: row.user_id, role: row.role, sessionId: row.id, stepUpUntil: row.step_up_until ? new Date(row.step_up_until) : null, validUntil };
  }

  async logout(sessionId: string): Promise<void> {
    await this.tx.run(async (manager) => {
      await manager.query(`UPDATE auth_session SET revoked_at = now(), revoke_reason = 'LOGOUT' WHERE id = $1 AND revoked_at IS NULL`, [sessionId]);
      await this.audit.record({ action: 'auth.logout', outcome: 'SUCCESS', resourceType: 'Session', resourceId: sessionId });
    });
  }

  /** Ends every live session of a user (disable, MFA reset, password reset or change). */
  async revokeAllFor(userId: string, reason: string, exceptSessionId?: string): Promise<number> {
    const [, count] = (await this.tx.manager().query(
      `UPDATE auth_session SET revoked_at = now(), revoke_reason = $2 WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $3`,
      [userId, reason, exceptSessionId ?? null],
    )) as [unknown, number];
    return count;
  }

  async markStepUp(sessionId: string): Promise<Date> {
    const [rows] = (await this.tx.manager().query(
      `UPDATE auth_session SET step_up_until = now() + make_interval(secs => $2 / 1000.0) WHERE id = $1 RETURNING step_up_until`,
      [sessionId, STEP_UP_MS],
    )) as [Array<{ step_up_until: Date }>, number];
    return new Date(rows[0].step_up_until);
  }
}
