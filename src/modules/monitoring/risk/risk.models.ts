import { Field, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { IsEnum, IsInt, IsOptional, IsUUID, Max, Min, Validate, ValidatorConstraint, type ValidatorConstraintInterface } from 'class-validator';
import { Connection } from '../../../common/pagination/connection';
import { DecimalScalar, JSONScalar } from '../../../common/scalars/scalars';
import { Text } from '../../../common/validation/text.decorators';
import { RiskFactor, RiskLevel } from '../../customers/models/customer.model';

/** Credit scores are on the common 300–850 scale (FICO-like); anything else is BAD_USER_INPUT. */
export const CREDIT_SCORE_MIN = 300;
export const CREDIT_SCORE_MAX = 850;

export enum EarlyWarningType {
  CREDIT_DETERIORATION = 'CREDIT_DETERIORATION',
  CHURN_RISK = 'CHURN_RISK',
  LOW_SATISFACTION = 'LOW_SATISFACTION',
  RISK_ESCALATION = 'RISK_ESCALATION',
}
export enum EarlyWarningStatus { OPEN = 'OPEN', RESOLVED = 'RESOLVED' }
registerEnumType(EarlyWarningType, { name: 'EarlyWarningType' });
registerEnumType(EarlyWarningStatus, { name: 'EarlyWarningStatus', description: 'At most one OPEN warning per customer and type; a repeat updates it' });

@ObjectType('RiskHistoryEntry', { description: 'A change of a customer\'s risk score or level, with the factors behind the new value' })
export class RiskHistoryEntryModel {
  @Field(() => ID) id!: string;
  @Field(() => Int) score!: number;
  @Field(() => RiskLevel) level!: RiskLevel;
  @Field(() => Int, { nullable: true }) previousScore!: number | null;
  @Field(() => RiskLevel, { nullable: true }) previousLevel!: RiskLevel | null;
  @Field(() => [RiskFactor]) factors!: RiskFactor[];
  @Field({ description: 'What triggered the recompute, e.g. alert.raised, alert.transition, credit.assessment, refresh' }) reason!: string;
  @Field() computedAt!: Date;
}
export const RiskHistoryConnection = Connection(RiskHistoryEntryModel, 'RiskHistoryConnection');

@ObjectType('CreditAssessment', { description: 'One recorded credit assessment' })
export class CreditAssessmentModel {
  @Field(() => ID) id!: string;
  @Field(() => Int) score!: number;
  @Field(() => RiskLevel) level!: RiskLevel;
  @Field(() => DecimalScalar) limit!: string;
  @Field(() => Int, { nullable: true }) previousScore!: number | null;
  @Field(() => RiskLevel, { nullable: true }) previousLevel!: RiskLevel | null;
  @Field() source!: string;
  @Field() recordedAt!: Date;
}
export const CreditHistoryConnection = Connection(CreditAssessmentModel, 'CreditHistoryConnection');

@ObjectType('EarlyWarning')
export class EarlyWarningModel {
  @Field(() => ID) id!: string;
  @Field(() => EarlyWarningType) type!: EarlyWarningType;
  @Field(() => ID) customerId!: string;
  @Field(() => EarlyWarningStatus) status!: EarlyWarningStatus;
  @Field(() => JSONScalar, { description: 'Why it fired (numbers and codes, never PII)' }) detail!: Record<string, unknown>;
  @Field(() => Int, { description: 'Times it fired while OPEN' }) occurrences!: number;
  @Field() createdAt!: Date;
  @Field() updatedAt!: Date;
  @Field(() => Date, { nullable: true }) resolvedAt!: Date | null;

  accountManagerId!: string | null;
}
export const EarlyWarningConnection = Connection(EarlyWarningModel, 'EarlyWarningConnection');

@InputType()
export class EarlyWarningsFilter {
  @Field(() => EarlyWarningType, { nullable: true }) @IsOptional() @IsEnum(EarlyWarningType) type?: EarlyWarningType;
  @Field(() => EarlyWarningStatus, { nullable: true }) @IsOptional() @IsEnum(EarlyWarningStatus) status?: EarlyWarningStatus;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: 'x must be an id' }) customerId?: string;
}

@ValidatorConstraint({ name: 'nonNegativeDecimal' })
class NonNegativeDecimal implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'string' && !value.startsWith('-') && /^\d{1,18}(\.\d{1,2})?$/.test(value);
  }
  defaultMessage(): string {
    return 'x must be 0 or more, with at most 2 decimals';
  }
}

@InputType()
export class RecordCreditAssessmentInput {
  @Field(() => ID) @IsUUID('all', { message: 'x must be an id' }) customerId!: string;
  @Field(() => Int, { description: `Credit score, ${CREDIT_SCORE_MIN}–${CREDIT_SCORE_MAX}` })
  @IsInt({ message: 'x must be an integer' })
  @Min(CREDIT_SCORE_MIN, { message: `x must be at least ${CREDIT_SCORE_MIN}` })
  @Max(CREDIT_SCORE_MAX, { message: `x must be at most ${CREDIT_SCORE_MAX}` })
  score!: number;
  @Field(() => RiskLevel, { description: 'Credit risk level: LOW (best) … CRITICAL (worst)' }) @IsEnum(RiskLevel) level!: RiskLevel;
  @Field(() => DecimalScalar, { description: 'Credit limit ≥ 0' }) @Validate(NonNegativeDecimal) limit!: string;
  @Field({ description: 'Who assessed it, e.g. a bureau or an internal model' }) @Text(100) source!: string;
}
