import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { PRINCIPAL_RESOLVER } from '../../access/principal-resolver';
import { AccessTokenService } from './auth/access-token.service';
import { AuthResolver } from './auth/auth.resolver';
import { ChallengeService } from './auth/challenge.service';
import { LockoutService } from './auth/lockout.service';
import { BearerPrincipalResolver } from './auth/principal-resolver.service';
import { SessionService } from './auth/session.service';
import { SignInService } from './auth/sign-in.service';
import { TotpSecretStore } from './auth/totp-secret.store';
import { TotpService } from './auth/totp.service';
import { ChallengeEntity } from './entities/challenge.entity';
import { PartnerAssessmentEntity, PartnerEntity, PartnerTokenEntity } from './entities/partner.entity';
import { SessionEntity } from './entities/session.entity';
import { UserEntity } from './entities/user.entity';
import { PasswordHasher } from './passwords/password-hasher';
import { PartnerTokensService } from './partners/partner-tokens.service';
import { PartnersResolver } from './partners/partners.resolver';
import { PartnersService } from './partners/partners.service';
import { BootstrapAdminService } from './users/bootstrap-admin.service';
import { UsersResolver } from './users/users.resolver';
import { UsersService } from './users/users.service';

/**
 * Staff identity (passwords, TOTP, sessions) and partners with scoped tokens. Global only for the
 * principal resolver the access guard needs; other modules use the exported services.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([UserEntity, SessionEntity, ChallengeEntity, PartnerEntity, PartnerTokenEntity, PartnerAssessmentEntity])],
  providers: [
    PasswordHasher,
    TotpService,
    TotpSecretStore,
    AccessTokenService,
    LockoutService,
    ChallengeService,
    SessionService,
    SignInService,
    UsersService,
    PartnersService,
    PartnerTokensService,
    BootstrapAdminService,
    BearerPrincipalResolver,
    { provide: PRINCIPAL_RESOLVER, useExisting: BearerPrincipalResolver },
    AuthResolver,
    UsersResolver,
    PartnersResolver,
  ],
  exports: [PRINCIPAL_RESOLVER, UsersService, PartnersService],
})
export class IdentityModule {}
