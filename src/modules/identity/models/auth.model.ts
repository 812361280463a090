import { Field, ObjectType, registerEnumType } from '@nestjs/graphql';
import { SignInStep } from '../entities/challenge.entity';
import { UserModel } from './user.model';

registerEnumType(SignInStep, { name: 'SignInStep', description: 'What the sign-in needs next' });

@ObjectType()
export class LoginChallenge {
  @Field({ description: 'Opaque; pass it to the next step. Dies after 5 minutes, use or 5 wrong codes.' })
  challengeToken!: string;
  @Field(() => SignInStep) next!: SignInStep;
  @Field() expiresAt!: Date;
}

@ObjectType()
export class TotpEnrollment {
  @Field({ description: 'Base32 TOTP secret (RFC 6238, SHA-1, 6 digits, 30 s)' }) secret!: string;
  @Field({ description: 'otpauth:// URI for authenticator apps (QR code)' }) otpauthUri!: string;
}

@ObjectType()
export class Session {
  @Field({ description: 'Bearer token for API calls; lives 15 minutes' }) accessToken!: string;
  @Field({ description: 'Single-use; exchange with refreshSession for a new pair' }) refreshToken!: string;
  @Field() accessTokenExpiresAt!: Date;
  @Field(() => UserModel) user!: UserModel;
  @Field(() => [String], { nullable: true, description: 'Only from completeTotpEnrollment: 10 single-use codes, shown once' })
  recoveryCodes?: string[] | null;
}

@ObjectType()
export class StepUp {
  @Field({ description: 'Full-value PII reads that need step-up are allowed until then' }) expiresAt!: Date;
}
