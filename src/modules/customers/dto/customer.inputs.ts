import { applyDecorators } from '@nestjs/common';
import { Field, ID, InputType, registerEnumType } from '@nestjs/graphql';
import { Transform } from 'class-transformer';
import { IsBoolean, IsEnum, IsOptional, IsUUID, MaxLength, Validate, ValidatorConstraint, type ValidatorConstraintInterface } from 'class-validator';
import { isE164, normaliseNationalId, normalisePhone } from '../../../common/crypto/blind-index';
import { DateScalar, DecimalScalar } from '../../../common/scalars/scalars';
import { MaxDecimals } from '../../../common/validation/decimal.decorators';
import { EmailAddress, Text } from '../../../common/validation/text.decorators';
import { NotClearable } from '../../../common/validation/not-clearable';
import { SortDirection } from '../../../common/pagination/sort';
import { CustomerStatusEnum, LifecycleStage, RiskLevel } from '../models/customer.model';

@ValidatorConstraint({ name: 'e164' })
class E164Phone implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      return isE164(normalisePhone(value));
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'x must be an E.164 phone number such as +8613900001234';
  }
}

/**
 * A national id is looked up by its blind index, which ignores spaces and dashes: one made of nothing else
 * ("-", "- -") has no index and is refused here, by name. Empty text is left to `@Text` (one message).
 */
@ValidatorConstraint({ name: 'indexableNationalId' })
class IndexableNationalId implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string' || value.trim() === '') return true;
    try {
      normaliseNationalId(value);
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'x must contain more than spaces and dashes';
  }
}

@ValidatorConstraint({ name: 'pastDate' })
class PastDate implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    const day = new Date(`${value}T00:00:00Z`).getTime();
    return day < Date.now() && day >= Date.UTC(1900, 0, 1);
  }
  defaultMessage(): string {
    return 'x must be a date in the past (after 1900-01-01)';
  }
}

@ValidatorConstraint({ name: 'nonNegative' })
class NonNegative implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'string' && !value.startsWith('-');
  }
  defaultMessage(): string {
    return 'x must be 0 or more';
  }
}

const OptionalEmail = (): PropertyDecorator =>
  applyDecorators(
    Transform(({ value }) => (typeof value === 'string' ? value.trim() : value)),
    IsOptional(),
    EmailAddress(),
    MaxLength(254, { message: 'x must be at most 254 characters' }),
  );

@InputType()
export class CreateCustomerInput {
  @Field() @Text(100) externalRef!: string;
  @Field({ nullable: true }) @Text(200, { optional: true }) fullName?: string;
  @Field({ nullable: true }) @OptionalEmail() email?: string;
  @Field({ nullable: true, description: 'E.164, e.g. +8613900001234 (spaces and dashes are removed)' }) @IsOptional() @Validate(E164Phone) phone?: string;
  @Field({ nullable: true }) @Text(50, { optional: true }) @Validate(IndexableNationalId) nationalId?: string;
  @Field(() => DateScalar, { nullable: true }) @IsOptional() @Validate(PastDate) dateOfBirth?: string;
  @Field({ nullable: true }) @Text(500, { optional: true }) address?: string;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: 'x must be an id' }) accountManagerId?: string;
  @Field(() => DecimalScalar, { nullable: true }) @IsOptional() @Validate(NonNegative) @MaxDecimals(2) transactionLimit?: string;
  @Field(() => DecimalScalar, { nullable: true }) @IsOptional() @Validate(NonNegative) @MaxDecimals(2) dailyLimit?: string;
  @Field(() => LifecycleStage, { nullable: true, defaultValue: LifecycleStage.ONBOARDING }) @IsOptional() @IsEnum(LifecycleStage) lifecycleStage?: LifecycleStage;
}

@InputType()
export class UpdateCustomerInput {
  @Field({ nullable: true }) @NotClearable() @Text(100, { optional: true }) externalRef?: string;
  @Field({ nullable: true }) @Text(200, { optional: true }) fullName?: string;
  @Field({ nullable: true }) @OptionalEmail() email?: string;
  @Field({ nullable: true }) @IsOptional() @Validate(E164Phone) phone?: string;
  @Field({ nullable: true }) @Text(50, { optional: true }) @Validate(IndexableNationalId) nationalId?: string;
  @Field(() => DateScalar, { nullable: true }) @IsOptional() @Validate(PastDate) dateOfBirth?: string;
  @Field({ nullable: true }) @Text(500, { optional: true }) address?: string;
  // Left out: kept; null: cleared (no account manager, no limit).
  @Field(() => ID, { nullable: true, description: 'COMPLIANCE_OFFICER only after creation' }) @IsOptional() @IsUUID('all', { message: 'x must be an id' }) accountManagerId?: string | null;
  @Field(() => DecimalScalar, { nullable: true, description: 'COMPLIANCE_OFFICER only after creation' }) @IsOptional() @Validate(NonNegative) @MaxDecimals(2) transactionLimit?: string | null;
  @Field(() => DecimalScalar, { nullable: true, description: 'COMPLIANCE_OFFICER only after creation' }) @IsOptional() @Validate(NonNegative) @MaxDecimals(2) dailyLimit?: string | null;
  @Field(() => LifecycleStage, { nullable: true }) @NotClearable() @IsOptional() @IsEnum(LifecycleStage) lifecycleStage?: LifecycleStage;
}

@InputType()
export class CustomersFilter {
  @Field({ nullable: true, description: 'Exact match (blind index); needs at least masked access to email' }) @IsOptional() @MaxLength(254) email?: string;
  @Field({ nullable: true, description: 'Exact match (blind index), any formatting' }) @IsOptional() @MaxLength(40) phone?: string;
  @Field({ nullable: true, description: 'Exact match (blind index); only for roles that may see nationalId' }) @IsOptional() @MaxLength(50) nationalId?: string;
  @Field(() => CustomerStatusEnum, { nullable: true }) @IsOptional() @IsEnum(CustomerStatusEnum) status?: CustomerStatusEnum;
  @Field(() => RiskLevel, { nullable: true }) @IsOptional() @IsEnum(RiskLevel) riskLevel?: RiskLevel;
  @Field(() => LifecycleStage, { nullable: true }) @IsOptional() @IsEnum(LifecycleStage) lifecycleStage?: LifecycleStage;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: 'x must be an id' }) accountManagerId?: string;
}

export enum CustomerOrderField { CREATED_AT = 'CREATED_AT', UPDATED_AT = 'UPDATED_AT', RISK_SCORE = 'RISK_SCORE', EXTERNAL_REF = 'EXTERNAL_REF' }
registerEnumType(CustomerOrderField, { name: 'CustomerOrderField' });

@InputType()
export class CustomerOrder {
  @Field(() => CustomerOrderField) @IsEnum(CustomerOrderField) field!: CustomerOrderField;
  @Field(() => SortDirection, { defaultValue: SortDirection.ASC }) @IsEnum(SortDirection) direction!: SortDirection;
}

@InputType()
export class RecordConsentInput {
  @Field(() => ID) @IsUUID('all', { message: 'x must be an id' }) customerId!: string;
  @Field({ description: 'What the consent covers, e.g. MARKETING_EMAIL' }) @Text(100) purpose!: string;
  @Field() @IsBoolean() granted!: boolean;
}
