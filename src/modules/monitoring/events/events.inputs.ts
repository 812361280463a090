import { Field, ID, InputType, registerEnumType } from '@nestjs/graphql';
import { IsBoolean, IsEnum, IsOptional, IsUUID } from 'class-validator';
import { SortDirection } from '../../../common/pagination/sort';
import { Text } from '../../../common/validation/text.decorators';
import { Decision, EventType, HoldStatus } from '../models/monitoring.enums';

@InputType()
export class EventsFilter {
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: 'x must be an id' }) customerId?: string;
  @Field(() => EventType, { nullable: true }) @IsOptional() @IsEnum(EventType) type?: EventType;
  @Field(() => Decision, { nullable: true }) @IsOptional() @IsEnum(Decision) decision?: Decision;
  @Field(() => HoldStatus, { nullable: true, description: 'The hold queue: {decision: HOLD, holdStatus: PENDING}' }) @IsOptional() @IsEnum(HoldStatus) holdStatus?: HoldStatus;
  @Field({ nullable: true }) @IsOptional() from?: Date;
  @Field({ nullable: true }) @IsOptional() to?: Date;
}

export enum EventOrderField { OCCURRED_AT = 'OCCURRED_AT', RECEIVED_AT = 'RECEIVED_AT' }
registerEnumType(EventOrderField, { name: 'EventOrderField', description: 'OCCURRED_AT: when it happened (back-filled events sort into the past); RECEIVED_AT: when Custos screened it' });

@InputType()
export class EventOrder {
  @Field(() => EventOrderField, { defaultValue: EventOrderField.OCCURRED_AT }) @IsEnum(EventOrderField) field!: EventOrderField;
  @Field(() => SortDirection, { defaultValue: SortDirection.DESC }) @IsEnum(SortDirection) direction!: SortDirection;
}

@InputType()
export class ResolveHoldInput {
  @Field() @IsBoolean() release!: boolean;
  @Field({ nullable: true }) @Text(2000, { optional: true }) note?: string;
}
