import { Field, ID, InputType, Int } from '@nestjs/graphql';
import { IsBoolean, IsEnum, IsInt, IsOptional, IsUUID, Matches, Max, Min } from 'class-validator';
import { SortDirection } from '../../../common/pagination/sort';
import { DecimalScalar } from '../../../common/scalars/scalars';
import { MaxDecimals } from '../../../common/validation/decimal.decorators';
import { Text } from '../../../common/validation/text.decorators';
import { Severity } from '../../monitoring/models/monitoring.enums';
import { ComplaintChannel, ComplaintOrderField, ComplaintStatsGroupBy, ComplaintStatus, Remedy } from '../models/complaint.enums';

const CODE = /^[A-Z][A-Z0-9_]{1,63}$/;
const ID_MESSAGE = 'x must be an id';

/** Lengths of the free text a complaint carries. */
export const COMPLAINT_TEXT = { subject: 200, description: 10_000, note: 5_000, summary: 5_000, comment: 2_000, reason: 2_000 } as const;

@InputType()
export class FileComplaintInput {
  @Field(() => ID) @IsUUID('all', { message: ID_MESSAGE }) customerId!: string;
  @Field(() => ComplaintChannel) @IsEnum(ComplaintChannel) channel!: ComplaintChannel;
  @Field({ description: 'A code from the configured list (defaults PRODUCT_QUALITY, SERVICE, BILLING, FRAUD_REPORT, DATA_PRIVACY, RETURN_REFUND, OTHER)' })
  @Matches(CODE, { message: 'x must be one of the configured category codes' })
  category!: string;
  @Field(() => Severity) @IsEnum(Severity) severity!: Severity;
  @Field({ description: 'Plain text: keep personal details in the description' }) @Text(COMPLAINT_TEXT.subject) subject!: string;
  @Field({ description: 'Encrypted under the customer\'s data key' }) @Text(COMPLAINT_TEXT.description) description!: string;
}

@InputType()
export class ResolveComplaintInput {
  @Field() @Text(COMPLAINT_TEXT.summary) summary!: string;
  @Field(() => Remedy) @IsEnum(Remedy) remedy!: Remedy;
  @Field(() => DecimalScalar, { nullable: true, description: 'Money refunded or paid; not negative' }) @IsOptional() @MaxDecimals(2) amount?: string;
}

@InputType()
export class RecordComplaintFeedbackInput {
  @Field(() => Int, { description: '1–5' })
  @IsInt({ message: 'x must be an integer from 1 to 5' }) @Min(1, { message: 'x must be an integer from 1 to 5' }) @Max(5, { message: 'x must be an integer from 1 to 5' })
  satisfaction!: number;
  @Field({ nullable: true }) @Text(COMPLAINT_TEXT.comment, { optional: true }) comment?: string;
}

@InputType()
export class ComplaintsFilter {
  @Field(() => ComplaintStatus, { nullable: true }) @IsOptional() @IsEnum(ComplaintStatus) status?: ComplaintStatus;
  @Field({ nullable: true }) @IsOptional() @Matches(CODE, { message: 'x must be a category code' }) category?: string;
  @Field(() => ComplaintChannel, { nullable: true }) @IsOptional() @IsEnum(ComplaintChannel) channel?: ComplaintChannel;
  @Field(() => Severity, { nullable: true }) @IsOptional() @IsEnum(Severity) severity?: Severity;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: ID_MESSAGE }) customerId?: string;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: ID_MESSAGE }) assigneeId?: string;
  @Field({ nullable: true, description: 'true: a deadline has passed without the state it asks for; false: none has' }) @IsOptional() @IsBoolean() overdue?: boolean;
  @Field({ nullable: true }) @IsOptional() @IsBoolean() escalated?: boolean;
}

@InputType()
export class ComplaintOrder {
  @Field(() => ComplaintOrderField, { defaultValue: ComplaintOrderField.RECEIVED_AT }) @IsEnum(ComplaintOrderField) field!: ComplaintOrderField;
  @Field(() => SortDirection, { defaultValue: SortDirection.DESC }) @IsEnum(SortDirection) direction!: SortDirection;
}

@InputType()
export class ComplaintStatsInput {
  @Field({ description: 'Complaints received at or after' }) from!: Date;
  @Field({ description: 'Complaints received before' }) to!: Date;
  @Field(() => ComplaintStatsGroupBy) @IsEnum(ComplaintStatsGroupBy) groupBy!: ComplaintStatsGroupBy;
}

@InputType()
export class RepeatComplainantsInput {
  @Field(() => Int, { defaultValue: 2 }) @IsInt() @Min(2, { message: 'x must be at least 2' }) @Max(1000) minComplaints!: number;
  @Field({ defaultValue: 'P30D', description: 'ISO-8601 duration back from now: days, weeks or hours (P30D, P4W, PT48H); at most P366D' })
  @Matches(/^P(?:\d{1,4}W|\d{1,4}D|T\d{1,5}H)$/, { message: 'x must be an ISO-8601 duration such as P30D, P4W or PT48H' })
  window!: string;
}
