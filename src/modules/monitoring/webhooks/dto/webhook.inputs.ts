import { Field, ID, InputType } from '@nestjs/graphql';
import { ArrayMaxSize, ArrayNotEmpty, IsBoolean, IsIn, IsOptional, IsUUID } from 'class-validator';
import { Text } from '../../../../common/validation/text.decorators';
import { NotClearable } from '../../../../common/validation/not-clearable';
import { WEBHOOK_EVENT_TYPES } from '../webhooks.settings';
import { WEBHOOK_URL_MAX_LENGTH } from '../webhook-url';

const eventTypesMessage = `x must only contain ${WEBHOOK_EVENT_TYPES.join(', ')}`;

@InputType()
export class CreateWebhookInput {
  @Field(() => ID) @IsUUID('all', { message: 'x must be an id' }) partnerId!: string;
  @Field({ description: 'https in production, on a public address' }) @Text(WEBHOOK_URL_MAX_LENGTH) url!: string;
  @Field(() => [String])
  @ArrayNotEmpty({ message: 'x must name at least one event type' })
  @ArrayMaxSize(WEBHOOK_EVENT_TYPES.length * 2)
  @IsIn(WEBHOOK_EVENT_TYPES as unknown as string[], { each: true, message: eventTypesMessage })
  eventTypes!: string[];
}

@InputType()
export class UpdateWebhookInput {
  @Field({ nullable: true }) @NotClearable() @Text(WEBHOOK_URL_MAX_LENGTH, { optional: true }) url?: string;
  @Field(() => [String], { nullable: true })
  @NotClearable()
  @IsOptional()
  @ArrayNotEmpty({ message: 'x must name at least one event type' })
  @ArrayMaxSize(WEBHOOK_EVENT_TYPES.length * 2)
  @IsIn(WEBHOOK_EVENT_TYPES as unknown as string[], { each: true, message: eventTypesMessage })
  eventTypes?: string[];
  @Field({ nullable: true }) @NotClearable() @IsOptional() @IsBoolean() active?: boolean;
}
