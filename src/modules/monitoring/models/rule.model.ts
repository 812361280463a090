import { Field, ID, InputType, Int, ObjectType } from '@nestjs/graphql';
import { ArrayMaxSize, ArrayMinSize, IsEnum, IsOptional, Matches } from 'class-validator';
import { GraphQLJSON } from 'graphql-scalars';
import { protectType } from '../../../access/field-policy';
import { Connection } from '../../../common/pagination/connection';
import { Text } from '../../../common/validation/text.decorators';
import { NotClearable } from '../../../common/validation/not-clearable';
import { EventType, RuleAction, RuleMode, RuleStatus, Severity } from './monitoring.enums';

/** One version of a rule; versions share `code`. Alerts, hits and figures point at the exact version. */
@ObjectType('Rule')
export class RuleModel {
  @Field(() => ID) id!: string;
  @Field() code!: string;
  @Field(() => Int) version!: number;
  @Field() name!: string;
  @Field(() => String, { nullable: true }) description!: string | null;
  @Field(() => [EventType]) eventTypes!: EventType[];
  @Field(() => GraphQLJSON, { nullable: true, description: 'Null with FORBIDDEN for a role that meets the rule only through its alerts' }) condition!: unknown;
  @Field(() => Severity) severity!: Severity;
  @Field(() => [RuleAction], { nullable: true, description: 'Null with FORBIDDEN for a role that meets the rule only through its alerts' }) actions!: RuleAction[];
  @Field(() => RuleMode) mode!: RuleMode;
  @Field(() => String, { nullable: true, description: 'ISO-8601 duration within which repeat hits increment one open alert; null with FORBIDDEN for a role that meets the rule only through its alerts' }) dedupWindow!: string;
  @Field(() => RuleStatus) status!: RuleStatus;
  @Field() createdAt!: Date;
  @Field() updatedAt!: Date;
  @Field(() => Date, { nullable: true }) activatedAt!: Date | null;
  @Field(() => Date, { nullable: true }) retiredAt!: Date | null;
}
export const RuleConnection = Connection(RuleModel, 'RuleConnection');
// Field by field: an account manager meets a rule only as the one behind its alerts, and sees what names it.
protectType('Rule', { subject: 'Rule' });

/** A rule's code: what `createRule` accepts, and so all a `rules` filter can match. */
const RULE_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;
const RULE_CODE_MESSAGE = 'x must be UPPER_SNAKE_CASE, 2–64 characters';

@InputType()
export class CreateRuleInput {
  @Field() @Matches(RULE_CODE, { message: RULE_CODE_MESSAGE }) code!: string;
  @Field() @Text(200) name!: string;
  @Field({ nullable: true }) @Text(2000, { optional: true }) description?: string;
  @Field(() => [EventType]) @ArrayMinSize(1, { message: 'x must name at least one event type' }) @ArrayMaxSize(7) @IsEnum(EventType, { each: true }) eventTypes!: EventType[];
  @Field(() => GraphQLJSON) condition!: unknown;
  @Field(() => Severity) @IsEnum(Severity) severity!: Severity;
  @Field(() => [RuleAction]) @ArrayMinSize(1, { message: 'x must name at least one action' }) @IsEnum(RuleAction, { each: true }) actions!: RuleAction[];
  @Field(() => RuleMode, { nullable: true, defaultValue: RuleMode.ENFORCE }) @IsOptional() @IsEnum(RuleMode) mode?: RuleMode;
  @Field({ nullable: true, defaultValue: 'P1D' }) @IsOptional() @Matches(/^P(?!$)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/, { message: 'x must be an ISO-8601 duration such as P1D or PT30M' }) dedupWindow?: string;
}

@InputType()
export class UpdateRuleInput {
  @Field({ nullable: true }) @NotClearable() @Text(200, { optional: true }) name?: string;
  @Field({ nullable: true, description: 'Left out, the description stays; null clears it' }) @Text(2000, { optional: true }) description?: string;
  @Field(() => [EventType], { nullable: true }) @NotClearable() @IsOptional() @ArrayMinSize(1) @IsEnum(EventType, { each: true }) eventTypes?: EventType[];
  @Field(() => GraphQLJSON, { nullable: true }) @NotClearable() condition?: unknown;
  @Field(() => Severity, { nullable: true }) @NotClearable() @IsOptional() @IsEnum(Severity) severity?: Severity;
  @Field(() => [RuleAction], { nullable: true }) @NotClearable() @IsOptional() @ArrayMinSize(1) @IsEnum(RuleAction, { each: true }) actions?: RuleAction[];
  @Field(() => RuleMode, { nullable: true }) @NotClearable() @IsOptional() @IsEnum(RuleMode) mode?: RuleMode;
  @Field({ nullable: true }) @NotClearable() @IsOptional() @Matches(/^P(?!$)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/, { message: 'x must be an ISO-8601 duration such as P1D or PT30M' }) dedupWindow?: string;
}

@InputType()
export class RulesFilter {
  @Field({ nullable: true }) @IsOptional() @Matches(RULE_CODE, { message: RULE_CODE_MESSAGE }) code?: string;
  @Field(() => RuleStatus, { nullable: true }) @IsOptional() @IsEnum(RuleStatus) status?: RuleStatus;
}
