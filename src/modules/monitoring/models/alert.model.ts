import { Field, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { auditFullReads } from '../../../access/field-policy';
import { IsEnum, IsOptional, IsUUID } from 'class-validator';
import { Connection } from '../../../common/pagination/connection';
import { SortDirection } from '../../../common/pagination/sort';
import { Text } from '../../../common/validation/text.decorators';
import { AlertKind, AlertStatus, AlertTarget, Disposition, Severity } from './monitoring.enums';

@ObjectType('Alert')
export class AlertModel {
  @Field(() => ID) id!: string;
  @Field(() => AlertKind) kind!: AlertKind;
  @Field(() => Severity) severity!: Severity;
  @Field(() => AlertStatus) status!: AlertStatus;
  @Field(() => Int, { description: 'Hits of the same rule for the same customer inside the dedup window' }) occurrences!: number;
  @Field(() => Disposition, { nullable: true }) disposition!: Disposition | null;
  @Field(() => ID, { nullable: true }) eventId!: string | null;
  @Field(() => ID, { nullable: true }) assigneeId!: string | null;
  @Field() firstSeenAt!: Date;
  @Field() lastSeenAt!: Date;
  @Field(() => Date, { nullable: true }) closedAt!: Date | null;
  @Field() createdAt!: Date;

  ruleId!: string | null;
  customerId!: string | null;
  accountManagerId!: string | null;
}
export const AlertConnection = Connection(AlertModel, 'AlertConnection');

@InputType()
export class AlertsFilter {
  @Field(() => AlertStatus, { nullable: true }) @IsOptional() @IsEnum(AlertStatus) status?: AlertStatus;
  @Field(() => Severity, { nullable: true }) @IsOptional() @IsEnum(Severity) severity?: Severity;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: 'x must be an id' }) ruleId?: string;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: 'x must be an id' }) customerId?: string;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: 'x must be an id' }) assigneeId?: string;
  @Field({ nullable: true }) @IsOptional() from?: Date;
  @Field({ nullable: true }) @IsOptional() to?: Date;
}

export enum AlertOrderField { CREATED_AT = 'CREATED_AT', LAST_SEEN_AT = 'LAST_SEEN_AT', SEVERITY = 'SEVERITY' }
registerEnumType(AlertOrderField, { name: 'AlertOrderField', description: 'SEVERITY ranks LOW < MEDIUM < HIGH < CRITICAL; within one severity, by creation time in the same direction' });

@InputType()
export class AlertOrder {
  @Field(() => AlertOrderField, { defaultValue: AlertOrderField.CREATED_AT }) @IsEnum(AlertOrderField) field!: AlertOrderField;
  @Field(() => SortDirection, { defaultValue: SortDirection.DESC }) @IsEnum(SortDirection) direction!: SortDirection;
}

export enum AlertActivityKind { ASSIGNED = 'ASSIGNED', TRANSITION = 'TRANSITION', NOTE = 'NOTE' }
registerEnumType(AlertActivityKind, { name: 'AlertActivityKind' });

/** One entry of an alert's trail: an assignment, a state change or a note, with who and when. */
@ObjectType('AlertActivity')
export class AlertActivityModel {
  @Field(() => ID) id!: string;
  @Field(() => AlertActivityKind) kind!: AlertActivityKind;
  @Field(() => AlertStatus, { nullable: true }) fromStatus!: AlertStatus | null;
  @Field(() => AlertStatus, { nullable: true }) toStatus!: AlertStatus | null;
  @Field(() => ID, { nullable: true, description: 'The staff user who acted' }) actorId!: string | null;
  @Field(() => ID, { nullable: true, description: 'Whom an ASSIGNED entry named' }) assigneeId!: string | null;
  @Field(() => String, { nullable: true, description: "Free text, stored encrypted under the customer's key (an alert without a customer has a key of its own); null once the customer is erased" }) note!: string | null;
  @Field() createdAt!: Date;
  /** The customer whose key sealed the text; not exposed, it names the customer in the read's audit entry. */
  customerId?: string;
}

// An alert note is the customer's PII (SPEC §4): reading it in full is audited under that customer.
auditFullReads('AlertActivity', { fields: ['note'], customerIdOf: (row) => row.customerId as string | undefined });

@InputType()
export class TransitionAlertInput {
  @Field(() => AlertTarget) @IsEnum(AlertTarget) to!: AlertTarget;
  @Field(() => Disposition, { nullable: true, description: 'Required to close' }) @IsOptional() @IsEnum(Disposition) disposition?: Disposition;
  @Field({ nullable: true }) @Text(2000, { optional: true }) note?: string;
}

@ObjectType('Notification')
export class NotificationModel {
  @Field(() => ID) id!: string;
  @Field() kind!: string;
  @Field() title!: string;
  @Field(() => ID, { nullable: true }) customerId!: string | null;
  @Field(() => ID, { nullable: true }) alertId!: string | null;
  @Field(() => ID, { nullable: true }) eventId!: string | null;
  @Field() read!: boolean;
  @Field() createdAt!: Date;
}
export const NotificationConnection = Connection(NotificationModel, 'NotificationConnection');
