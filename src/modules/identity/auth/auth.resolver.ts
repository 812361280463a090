import { Args, Mutation, Resolver } from '@nestjs/graphql';
import { Authenticated } from '../../../access/policy.decorator';
import { Public } from '../../../access/public.decorator';
import { RequestContext } from '../../../common/context/request-context';
import { LoginInput } from '../dto/identity.inputs';
import { LoginChallenge, Session, StepUp, TotpEnrollment } from '../models/auth.model';
import { UsersService } from '../users/users.service';
import { toUserModel } from '../users/user.mapper';
import { SessionService } from './session.service';
import { SignInService } from './sign-in.service';

/** Sign-in, MFA and session lifecycle (SPEC §5 identity). */
@Resolver()
export class AuthResolver {
  constructor(
    private readonly signIn: SignInService,
    private readonly sessions: SessionService,
    private readonly users: UsersService,
    private readonly context: RequestContext,
  ) {}

  @Public()
  @Mutation(() => LoginChallenge, { description: 'Checks the password; never returns tokens' })
  login(@Args('input') input: LoginInput): Promise<LoginChallenge> {
    return this.signIn.login(input.email, input.password);
  }

  @Public()
  @Mutation(() => LoginChallenge)
  completePasswordChange(@Args('challengeToken') challengeToken: string, @Args('newPassword') newPassword: string): Promise<LoginChallenge> {
    return this.signIn.completePasswordChange(challengeToken, newPassword);
  }

  @Public()
  @Mutation(() => TotpEnrollment, { description: 'Only for ENROLLMENT_REQUIRED challenges; calling again replaces the secret' })
  beginTotpEnrollment(@Args('challengeToken') challengeToken: string): Promise<TotpEnrollment> {
    return this.signIn.beginTotpEnrollment(challengeToken);
  }

  @Public()
  @Mutation(() => Session, { description: 'Confirms the authenticator with a first code; returns the session and 10 recovery codes' })
  completeTotpEnrollment(@Args('challengeToken') challengeToken: string, @Args('code') code: string): Promise<Session> {
    return this.signIn.completeTotpEnrollment(challengeToken, code);
  }

  @Public()
  @Mutation(() => Session)
  verifyTotp(@Args('challengeToken') challengeToken: string, @Args('code') code: string): Promise<Session> {
    return this.signIn.verifyTotp(challengeToken, code);
  }

  @Public()
  @Mutation(() => Session, { description: 'Each recovery code works once' })
  useRecoveryCode(@Args('challengeToken') challengeToken: string, @Args('recoveryCode') recoveryCode: string): Promise<Session> {
    return this.signIn.useRecoveryCode(challengeToken, recoveryCode);
  }

  @Public()
  @Mutation(() => Session, { description: 'Rotates the refresh token; reusing an old one revokes the session' })
  async refreshSession(@Args('refreshToken') refreshToken: string): Promise<Session> {
    const { user, ...issued } = await this.sessions.refresh(refreshToken);
    return { ...issued, user: toUserModel(user), recoveryCodes: null };
  }

  @Authenticated('USER')
  @Mutation(() => Boolean, { description: 'Revokes the current session' })
  async logout(): Promise<boolean> {
    await this.sessions.logout(this.staff().sessionId);
    return true;
  }

  @Authenticated('USER')
  @Mutation(() => StepUp, { description: 'A fresh TOTP code unlocks step-up PII fields for 10 minutes' })
  stepUp(@Args('code') code: string): Promise<StepUp> {
    return this.signIn.stepUp(this.staff(), code);
  }

  @Authenticated('USER')
  @Mutation(() => Boolean, { description: 'Other sessions of the user end' })
  async changePassword(@Args('currentPassword') currentPassword: string, @Args('newPassword') newPassword: string): Promise<boolean> {
    await this.users.changeOwnPassword(this.staff(), currentPassword, newPassword);
    return true;
  }

  private staff() {
    return this.context.requireStaff();
  }
}
