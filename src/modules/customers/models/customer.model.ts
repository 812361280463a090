import { Field, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { protectType } from '../../../access/field-policy';
import { maskEmail, maskFullName, maskNationalId, maskPhone } from '../../../common/pii/masks';
import { Connection } from '../../../common/pagination/connection';
import { DateScalar, DecimalScalar } from '../../../common/scalars/scalars';

export enum CustomerStatusEnum { ACTIVE = 'ACTIVE', RESTRICTED = 'RESTRICTED', SUSPENDED = 'SUSPENDED', TERMINATED = 'TERMINATED', ERASED = 'ERASED' }
export enum LifecycleStage { PROSPECT = 'PROSPECT', ONBOARDING = 'ONBOARDING', ACTIVE = 'ACTIVE', DORMANT = 'DORMANT', CHURNED = 'CHURNED' }
export enum VerificationLevel { NONE = 'NONE', BASIC = 'BASIC', VERIFIED = 'VERIFIED', ENHANCED = 'ENHANCED' }
export enum RiskLevel { LOW = 'LOW', MEDIUM = 'MEDIUM', HIGH = 'HIGH', CRITICAL = 'CRITICAL' }
registerEnumType(CustomerStatusEnum, { name: 'CustomerStatus' });
registerEnumType(LifecycleStage, { name: 'LifecycleStage' });
registerEnumType(VerificationLevel, { name: 'VerificationLevel' });
registerEnumType(RiskLevel, { name: 'RiskLevel', description: 'Risk and credit levels' });

@ObjectType()
export class RiskFactor {
  @Field() factor!: string;
  @Field(() => Int) points!: number;
  @Field(() => String, { nullable: true }) detail!: string | null;
}

/**
 * A customer as the API shows it. Every field but `id` is nullable: the field policy (SPEC §4 matrix)
 * decides per principal whether a field is full, masked, forbidden (null + FORBIDDEN) or needs step-up.
 * `accountManagerId` and `onboardedByPartnerId` are internal (row-scope conditions), not GraphQL fields.
 */
@ObjectType('Customer')
export class CustomerModel {
  @Field(() => ID) id!: string;
  @Field(() => String, { nullable: true }) externalRef!: string | null;
  @Field(() => CustomerStatusEnum, { nullable: true }) status!: CustomerStatusEnum | null;
  @Field(() => LifecycleStage, { nullable: true }) lifecycleStage!: LifecycleStage | null;
  @Field(() => VerificationLevel, { nullable: true }) verificationLevel!: VerificationLevel | null;
  @Field(() => String, { nullable: true }) fullName!: string | null;
  @Field(() => String, { nullable: true }) email!: string | null;
  @Field(() => String, { nullable: true }) phone!: string | null;
  @Field(() => String, { nullable: true }) nationalId!: string | null;
  @Field(() => DateScalar, { nullable: true }) dateOfBirth!: string | null;
  @Field(() => String, { nullable: true }) address!: string | null;
  @Field(() => Int, { nullable: true }) riskScore!: number | null;
  @Field(() => RiskLevel, { nullable: true }) riskLevel!: RiskLevel | null;
  @Field(() => [RiskFactor], { nullable: true }) riskFactors!: RiskFactor[] | null;
  @Field(() => Int, { nullable: true }) creditScore!: number | null;
  @Field(() => RiskLevel, { nullable: true }) creditLevel!: RiskLevel | null;
  @Field(() => DecimalScalar, { nullable: true }) creditLimit!: string | null;
  @Field(() => DecimalScalar, { nullable: true }) transactionLimit!: string | null;
  @Field(() => DecimalScalar, { nullable: true }) dailyLimit!: string | null;
  @Field(() => Date, { nullable: true }) createdAt!: Date | null;
  @Field(() => Date, { nullable: true }) updatedAt!: Date | null;

  accountManagerId!: string | null;
  onboardedByPartnerId!: string | null;
}

protectType('Customer', {
  subject: 'Customer',
  masks: {
    fullName: (v) => maskFullName(String(v)),
    email: (v) => maskEmail(String(v)),
    phone: (v) => maskPhone(String(v)),
    nationalId: (v) => maskNationalId(String(v)),
  },
  audited: { fields: ['fullName', 'email', 'phone', 'nationalId', 'dateOfBirth', 'address'], customerIdOf: (row) => String(row.id) },
});

export const CustomerConnection = Connection(CustomerModel, 'CustomerConnection');

@ObjectType('Consent')
export class ConsentModel {
  @Field(() => ID) id!: string;
  @Field(() => ID) customerId!: string;
  @Field() purpose!: string;
  @Field() granted!: boolean;
  @Field() recordedAt!: Date;
}
export const ConsentConnection = Connection(ConsentModel, 'ConsentConnection');

@ObjectType('ProfileChange', { description: 'Which fields of a customer changed, by whom and when (never the values)' })
export class ProfileChangeModel {
  @Field(() => ID) id!: string;
  @Field(() => [String]) fields!: string[];
  @Field() actorType!: string;
  @Field(() => String, { nullable: true }) actorId!: string | null;
  @Field() changedAt!: Date;
}
export const ProfileChangeConnection = Connection(ProfileChangeModel, 'ProfileChangeConnection');

