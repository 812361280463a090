import { Field, ID, InputType, Int } from '@nestjs/graphql';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsBoolean, IsDate, IsEnum, IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { PARTNER_SCOPES, Role, TrustLevel } from '../../../common/context/principal';
import { EmailAddress, Text } from '../../../common/validation/text.decorators';
import { NotClearable } from '../../../common/validation/not-clearable';
import { AssessmentResult } from '../models/partner.model';

const lowerTrim = Transform(({ value }) => (typeof value === 'string' ? value.trim().toLowerCase() : value));

@InputType()
export class LoginInput {
  @Field() @IsString() @Matches(/\S/, { message: 'x must not be empty' }) @MaxLength(254, { message: 'x must be at most 254 characters' }) email!: string;
  // Not trimmed: spaces in a password are part of it.
  @Field() @IsString() @MinLength(1, { message: 'x must not be empty' }) @MaxLength(1024, { message: 'x is too long' }) password!: string;
}

@InputType()
export class CreateUserInput {
  @Field() @lowerTrim @EmailAddress() @MaxLength(254, { message: 'x must be at most 254 characters' }) email!: string;
  @Field() @Text(100) displayName!: string;
  @Field(() => Role) @IsEnum(Role, { message: 'x must be a role' }) role!: Role;
  @Field({ description: 'The user must replace it at first sign-in' }) @IsString() initialPassword!: string;
}

@InputType()
export class UpdateUserInput {
  @Field({ nullable: true }) @NotClearable() @Text(100, { optional: true }) displayName?: string;
  @Field(() => Role, { nullable: true }) @NotClearable() @IsOptional() @IsEnum(Role, { message: 'x must be a role' }) role?: Role;
  @Field({ nullable: true }) @NotClearable() @IsOptional() @IsBoolean() disabled?: boolean;
}

@InputType()
export class UsersFilter {
  @Field(() => Role, { nullable: true }) @IsOptional() @IsEnum(Role) role?: Role;
  @Field({ nullable: true }) @IsOptional() @IsBoolean() disabled?: boolean;
}


@InputType()
export class CreatePartnerInput {
  @Field() @Text(200) name!: string;
  @Field() @lowerTrim @EmailAddress() contactEmail!: string;
  @Field(() => TrustLevel) @IsEnum(TrustLevel) trustLevel!: TrustLevel;
  @Field(() => [String]) @ArrayMaxSize(PARTNER_SCOPES.length) @IsIn(PARTNER_SCOPES as unknown as string[], { each: true, message: `x must only contain ${PARTNER_SCOPES.join(', ')}` })
  allowedScopes!: string[];
  @Field() @IsDate({ message: 'x must be a date-time' }) agreementSignedAt!: Date;
  @Field() @IsDate({ message: 'x must be a date-time' }) agreementExpiresAt!: Date;
  @Field(() => Int, { nullable: true, description: 'Default: 100 000 (EXTERNAL) or 3 000 000 (INTERNAL)' })
  @IsOptional() @IsInt() @Min(1, { message: 'x must be at least 1' }) @Max(100_000_000) eventsPerMinute?: number;
}

@InputType()
export class UpdatePartnerInput {
  @Field({ nullable: true }) @NotClearable() @Text(200, { optional: true }) name?: string;
  @Field({ nullable: true }) @NotClearable() @IsOptional() @lowerTrim @EmailAddress() contactEmail?: string;
  @Field(() => [String], { nullable: true }) @NotClearable() @IsOptional() @ArrayMaxSize(PARTNER_SCOPES.length) @IsIn(PARTNER_SCOPES as unknown as string[], { each: true, message: `x must only contain ${PARTNER_SCOPES.join(', ')}` })
  allowedScopes?: string[];
  @Field(() => Int, { nullable: true, description: 'null: back to the default of its trust level' })
  @IsOptional() @IsInt() @Min(1, { message: 'x must be at least 1' }) @Max(100_000_000) eventsPerMinute?: number | null;
  @Field({ nullable: true }) @NotClearable() @IsOptional() @IsBoolean() suspended?: boolean;
}

@InputType()
export class IssuePartnerTokenInput {
  @Field(() => ID) @IsUUID('all', { message: 'x must be an id' }) partnerId!: string;
  @Field() @Text(100) name!: string;
  @Field(() => [String]) @ArrayMaxSize(PARTNER_SCOPES.length) @IsIn(PARTNER_SCOPES as unknown as string[], { each: true, message: `x must only contain ${PARTNER_SCOPES.join(', ')}` })
  scopes!: string[];
  @Field({ description: 'In the future and no later than the partner agreement' }) @IsDate({ message: 'x must be a date-time' }) expiresAt!: Date;
}

@InputType()
export class RecordPartnerAssessmentInput {
  @Field(() => ID) @IsUUID('all', { message: 'x must be an id' }) partnerId!: string;
  @Field(() => AssessmentResult) @IsEnum(AssessmentResult) result!: AssessmentResult;
  @Field({ nullable: true }) @Text(2000, { optional: true }) notes?: string;
  @Field({ nullable: true }) @IsOptional() @IsDate({ message: 'x must be a date-time' }) nextDueAt?: Date;
}
