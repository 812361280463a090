import { Field, ID, InputType } from '@nestjs/graphql';
import { IsDate, IsEnum, IsOptional, IsUUID, Matches } from 'class-validator';
import { Text } from '../../../common/validation/text.decorators';
import { AuditActorType, AuditOutcome, SecurityAlertKind, SecurityAlertStatus } from '../models/audit.enums';

const AUDIT_ID = /^[1-9]\d{0,17}$/;

@InputType()
export class AuditLogFilter {
  @Field({ nullable: true }) @Text(200, { optional: true }) actorId?: string;
  @Field(() => AuditActorType, { nullable: true }) @IsOptional() @IsEnum(AuditActorType, { message: 'x must be an actor type' }) actorType?: AuditActorType;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: 'x must be an id' }) partnerId?: string;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: 'x must be an id' }) customerId?: string;
  @Field({ nullable: true, description: 'Exact action, e.g. `customer.read_pii`' }) @Text(100, { optional: true }) action?: string;
  @Field(() => AuditOutcome, { nullable: true }) @IsOptional() @IsEnum(AuditOutcome, { message: 'x must be an outcome' }) outcome?: AuditOutcome;
  @Field({ nullable: true, description: 'Entries at or after this instant' }) @IsOptional() @IsDate({ message: 'x must be a date-time' }) from?: Date;
  @Field({ nullable: true, description: 'Entries before this instant' }) @IsOptional() @IsDate({ message: 'x must be a date-time' }) to?: Date;
}

@InputType()
export class VerifyAuditChainInput {
  @Field(() => ID, { nullable: true, description: 'First entry to verify (default: the first)' })
  @IsOptional() @Matches(AUDIT_ID, { message: 'x must be an audit entry id' }) fromId?: string;
  @Field(() => ID, { nullable: true, description: 'Last entry to verify (default: the head)' })
  @IsOptional() @Matches(AUDIT_ID, { message: 'x must be an audit entry id' }) toId?: string;
}

@InputType()
export class SecurityAlertsFilter {
  @Field(() => SecurityAlertKind, { nullable: true }) @IsOptional() @IsEnum(SecurityAlertKind) kind?: SecurityAlertKind;
  @Field(() => SecurityAlertStatus, { nullable: true }) @IsOptional() @IsEnum(SecurityAlertStatus) status?: SecurityAlertStatus;
}
