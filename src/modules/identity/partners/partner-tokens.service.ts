import { Inject, Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { keyedDigest } from '../../../common/crypto/digest';
import { RequestContext } from '../../../common/context/request-context';
import { isStaff, PARTNER_SCOPES, type PartnerPrincipal, type PartnerScope, type TrustLevel } from '../../../common/context/principal';
import { BadUserInputError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { loadBatchedConnections } from '../../../common/pagination/batched-connection';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import type { EntityManager } from 'typeorm';
import { TransactionService } from '../../../database/transaction.service';
import { newSecret } from '../auth/secrets';
import type { IssuePartnerTokenInput } from '../dto/identity.inputs';
import { PartnerTokenEntity } from '../entities/partner.entity';
import type { IssuedPartnerToken, PartnerToken } from '../models/partner.model';
import { PartnersService } from './partners.service';
import { partnerInForceSql } from './partner-standing';
import { networkOf } from '../../audit/security-alerts/network';

export const PARTNER_TOKEN_PREFIX = 'ptk_';

/** A `partner_token` row as SQL returns it (the digest is never read out of it). */
interface TokenRow {
  id: string;
  partner_id: string;
  name: string;
  token_prefix: string;
  scopes: string[];
  expires_at: Date | string;
  revoked_at: Date | string | null;
  last_used_at: Date | string | null;
  created_at: Date | string;
}

const instant = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));

const toModel = (t: TokenRow): PartnerToken => ({
  id: t.id,
  partnerId: t.partner_id,
  name: t.name,
  prefix: t.token_prefix,
  scopes: t.scopes,
  expiresAt: instant(t.expires_at)!,
  revokedAt: instant(t.revoked_at),
  lastUsedAt: instant(t.last_used_at),
  createdAt: instant(t.created_at)!,
});

/**
 * Partner API tokens: 256-bit random secrets shown once and stored as keyed digests. A token works only
 * while it is unrevoked and unexpired, its partner unsuspended and the partner agreement in force.
 */
@Injectable()
export class PartnerTokensService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tx: TransactionService,
    private readonly partners: PartnersService,
    private readonly context: RequestContext,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  private digest(token: string): string {
    return keyedDigest(this.config.keys.token, 'partner-token', token);
  }

  async issue(input: IssuePartnerTokenInput): Promise<IssuedPartnerToken> {
    const partner = await this.partners.findEntity(input.partnerId);
    const scopes = [...new Set(input.scopes)];
    const outside = scopes.filter((s) => !partner.allowedScopes.includes(s));
    if (outside.length) throw BadUserInputError.field('scopes', `must be within the partner's allowed scopes (not ${outside.join(', ')})`);
    if (!scopes.length) throw BadUserInputError.field('scopes', 'must name at least one scope');
    if (input.expiresAt <= new Date()) throw BadUserInputError.field('expiresAt', 'must be in the future');
    if (input.expiresAt > partner.agreementExpiresAt) throw BadUserInputError.field('expiresAt', 'must not be after the partner agreement expires');
    // `ptk_<public id>_<secret>`: the id (48 random bits of its own) lets people recognise a token in lists and
    // logs; the secret after it keeps all 256 bits, and only its digest is stored (SPEC: stored only as hashes).
    const publicId = newSecret('', 6);
    const token = newSecret(`${PARTNER_TOKEN_PREFIX}${publicId}_`);
    const principal = this.context.principal;
    return this.tx.run(async (manager) => {
      const { identifiers } = await manager.insert(PartnerTokenEntity, {
        partnerId: partner.id,
        name: input.name,
        tokenDigest: this.digest(token),
        tokenPrefix: `${PARTNER_TOKEN_PREFIX}${publicId}`,
        scopes,
        expiresAt: input.expiresAt,
        createdBy: isStaff(principal) ? principal.userId : null,
      });
      const id = identifiers[0].id as string;
      await this.audit.record({ action: 'partner_token.issue', outcome: 'SUCCESS', resourceType: 'PartnerToken', resourceId: id, details: { partnerId: partner.id, scopes } });
      return { token, tokenInfo: await this.view(manager, id) };
    });
  }

  async revoke(id: string): Promise<PartnerToken> {
    if (!isUUID(id)) throw BadUserInputError.field('id', 'is not a valid id');
    return this.tx.run(async (manager) => {
      const token = await manager.findOneBy(PartnerTokenEntity, { id });
      if (!token) throw new NotFoundError('Partner token');
      if (!token.revokedAt) await manager.update(PartnerTokenEntity, { id }, { revokedAt: new Date() });
      await this.audit.record({ action: 'partner_token.revoke', outcome: 'SUCCESS', resourceType: 'PartnerToken', resourceId: id, details: { partnerId: token.partnerId } });
      return await this.view(manager, id);
    });
  }

  /** One stored token's API view, read as the list reads its rows (one mapping for both). */
  private async view(manager: EntityManager, id: string): Promise<PartnerToken> {
    const [row] = (await manager.query(`SELECT * FROM partner_token WHERE id = $1`, [id])) as TokenRow[];
    return toModel(row);
  }

  /**
   * The same page of tokens of many partners in one statement (oldest first; cursors as `paginate` writes
   * them), for the `Partner.tokens` DataLoader.
   */
  async listForMany(partnerIds: readonly string[], page: PageArgs): Promise<Array<ConnectionShape<PartnerToken>>> {
    return loadBatchedConnections<TokenRow, PartnerToken>(
      this.tx.manager(),
      { table: 'partner_token', parentColumn: 'partner_id', orderColumn: 'created_at', orderKind: 'timestamptz', direction: 'ASC' },
      partnerIds, page, (r) => toModel(r),
    );
  }

  /**
   * The partner principal for a presented token, or null when it is unknown or no longer valid. Marks
   * `lastUsedAt` and audits the use at most once a minute per token (to keep the hot path write-free) —
   * and at once when the caller's network (IPv4 /24, IPv6 /48, as the TOKEN_NEW_NETWORK detector groups
   * addresses) differs from the last recorded use's, so a use from a new network is never hidden.
   */
  async principalFor(token: string): Promise<PartnerPrincipal | null> {
    if (!token.startsWith(PARTNER_TOKEN_PREFIX) || token.length > 200) return null;
    const [row] = (await this.tx.manager().query(
      `SELECT t.id, t.partner_id, t.scopes, p.allowed_scopes, p.trust_level, p.events_per_minute, t.last_used_at, t.last_used_ip,
              (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute') AS stale, least(t.expires_at, p.agreement_expires_at) AS valid_until
         FROM partner_token t JOIN partner p ON p.id = t.partner_id
        WHERE t.token_digest = $1 AND t.revoked_at IS NULL AND t.expires_at > now()
          AND ${partnerInForceSql('p')}`,
      [this.digest(token)],
    )) as Array<{
      id: string; partner_id: string; scopes: string[]; allowed_scopes: string[]; trust_level: TrustLevel; events_per_minute: number | null;
      last_used_at: Date | null; last_used_ip: string | null; stale: boolean; valid_until: Date;
    }>;
    if (!row) return null;
    const ip = this.context.ip ?? null;
    const newNetwork = row.last_used_at !== null && networkOf(ip) !== networkOf(row.last_used_ip);
    const scopes = row.scopes.filter((s): s is PartnerScope => row.allowed_scopes.includes(s) && (PARTNER_SCOPES as readonly string[]).includes(s));
    const principal: PartnerPrincipal = {
      kind: 'PARTNER', partnerId: row.partner_id, tokenId: row.id, trustLevel: row.trust_level, scopes, eventsPerMinute: row.events_per_minute,
      validUntil: new Date(row.valid_until),
    };
    // Most uses need no write at all: skip the statement then. When one is due, the guarded UPDATE still
    // decides, so concurrent uses of one token record (and audit) it once; the mark and its entry commit
    // together, so a use whose entry could not be written is not taken as already recorded by the next one.
    if (row.stale || newNetwork) {
      await this.tx.run(async (manager) => {
        const touched = (await manager.query(
          `UPDATE partner_token SET last_used_at = now(), last_used_ip = $2
            WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute' OR $3::boolean) RETURNING id`,
          [row.id, ip, newNetwork],
        )) as [Array<{ id: string }>, number];
        if (!touched[0].length) return;
        await this.audit.record({
          action: 'partner_token.use',
          outcome: 'SUCCESS',
          resourceType: 'PartnerToken',
          resourceId: row.id,
          actor: { type: 'PARTNER', id: row.id, role: 'PARTNER', partnerId: row.partner_id },
          details: { scopes },
        });
      });
    }
    return principal;
  }
}
