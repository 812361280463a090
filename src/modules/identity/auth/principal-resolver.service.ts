import { Injectable } from '@nestjs/common';
import type { PrincipalResolver } from '../../../access/principal-resolver';
import type { Principal } from '../../../common/context/principal';
import { UnauthenticatedError } from '../../../common/errors/app-error';
import { PARTNER_TOKEN_PREFIX, PartnerTokensService } from '../partners/partner-tokens.service';
import { SessionService } from './session.service';

/** `Authorization: Bearer <JWT>` for staff, `Bearer ptk_…` for partners. */
@Injectable()
export class BearerPrincipalResolver implements PrincipalResolver {
  constructor(
    private readonly sessions: SessionService,
    private readonly partnerTokens: PartnerTokensService,
  ) {}

  async resolve(authorization: string | undefined): Promise<Principal | undefined> {
    if (!authorization) return undefined;
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match) throw new UnauthenticatedError('Authorization must be "Bearer <token>"');
    const token = match[1];
    const principal = token.startsWith(PARTNER_TOKEN_PREFIX)
      ? await this.partnerTokens.principalFor(token)
      : await this.sessions.principalFor(token);
    if (!principal) throw new UnauthenticatedError('Invalid, expired or revoked credentials');
    return principal;
  }
}
