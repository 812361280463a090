import { Field, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { TrustLevel } from '../../../common/context/principal';
import { Connection } from '../../../common/pagination/connection';
import { protectType } from '../../../access/field-policy';

registerEnumType(TrustLevel, { name: 'TrustLevel' });

export enum AssessmentResult {
  PASS = 'PASS',
  CONDITIONAL = 'CONDITIONAL',
  FAIL = 'FAIL',
}
registerEnumType(AssessmentResult, { name: 'AssessmentResult' });

@ObjectType()
export class PartnerAssessment {
  @Field(() => ID) id!: string;
  @Field(() => AssessmentResult) result!: AssessmentResult;
  @Field(() => String, { nullable: true }) notes!: string | null;
  @Field(() => Date, { nullable: true }) nextDueAt!: Date | null;
  @Field() assessedAt!: Date;
}

@ObjectType()
export class PartnerToken {
  @Field(() => ID) id!: string;
  @Field(() => ID) partnerId!: string;
  @Field() name!: string;
  @Field({ description: 'First characters of the token, to recognise it in logs and lists' }) prefix!: string;
  @Field(() => [String]) scopes!: string[];
  @Field() expiresAt!: Date;
  @Field(() => Date, { nullable: true }) revokedAt!: Date | null;
  @Field(() => Date, { nullable: true }) lastUsedAt!: Date | null;
  @Field() createdAt!: Date;
}

export const PartnerTokenConnection = Connection(PartnerToken, 'PartnerTokenConnection');

@ObjectType()
export class Partner {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field() contactEmail!: string;
  @Field(() => TrustLevel) trustLevel!: TrustLevel;
  @Field(() => [String]) allowedScopes!: string[];
  @Field(() => Int, { description: 'Events per minute this partner may send (its own or the trust level default)' })
  eventsPerMinute!: number;
  @Field() agreementSignedAt!: Date;
  @Field() agreementExpiresAt!: Date;
  @Field() suspended!: boolean;
  @Field(() => Date, { nullable: true }) suspendedAt!: Date | null;
  @Field(() => PartnerAssessment, { nullable: true }) lastAssessment!: PartnerAssessment | null;
  @Field() createdAt!: Date;
}

export const PartnerConnection = Connection(Partner, 'PartnerConnection');

// Partners and their tokens are ADMIN business; wherever these types surface, other principals get FORBIDDEN.
protectType('Partner', { subject: 'Partner' });
protectType('PartnerToken', { subject: 'PartnerToken' });

@ObjectType()
export class IssuedPartnerToken {
  @Field({ description: 'The secret, shown once: store it now' }) token!: string;
  @Field(() => PartnerToken) tokenInfo!: PartnerToken;
}
