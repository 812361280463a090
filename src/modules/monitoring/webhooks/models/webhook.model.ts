import { Field, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { protectType } from '../../../../access/field-policy';
import { Connection } from '../../../../common/pagination/connection';

/** What one delivery attempt led to. */
export enum WebhookDeliveryStatus {
  /** The receiver answered 2xx. */
  DELIVERED = 'DELIVERED',
  /** It did not; another attempt is scheduled. */
  FAILED = 'FAILED',
  /**
   * Dead-lettered: the last attempt failed, or the message was refused before sending (webhook deleted or
   * deactivated, partner cut off or lacking the event type's scope; the reason is in the entry's `error`).
   */
  DEAD = 'DEAD',
}
registerEnumType(WebhookDeliveryStatus, { name: 'WebhookDeliveryStatus', description: 'Outcome of one delivery attempt' });

@ObjectType('Webhook', { description: 'A partner\'s HTTPS endpoint receiving signed notifications about its own customers' })
export class WebhookModel {
  @Field(() => ID) id!: string;
  @Field(() => ID) partnerId!: string;
  @Field() url!: string;
  @Field(() => [String], { description: 'Subset of alert.raised, hold.placed, hold.resolved, complaint.updated, customer.status_changed' })
  eventTypes!: string[];
  @Field({ description: 'An inactive webhook receives nothing; its pending messages were dead-lettered when it was deactivated' })
  active!: boolean;
  @Field() createdAt!: Date;
  @Field() updatedAt!: Date;
}
export const WebhookConnection = Connection(WebhookModel, 'WebhookConnection');

@ObjectType('CreatedWebhook')
export class CreatedWebhookModel {
  @Field(() => WebhookModel) webhook!: WebhookModel;
  @Field({ description: 'The signing secret, shown once: store it now (HMAC-SHA-256 key of X-Custos-Signature)' })
  secret!: string;
}

@ObjectType('WebhookDelivery', { description: 'One attempt to deliver one message (the delivery log)' })
export class WebhookDeliveryModel {
  @Field(() => ID) id!: string;
  @Field(() => ID, { description: 'The message: X-Custos-Delivery and the body\'s id, the same on every attempt' })
  deliveryId!: string;
  @Field() eventType!: string;
  @Field(() => Int, { description: '1-based' }) attempt!: number;
  @Field(() => WebhookDeliveryStatus) status!: WebhookDeliveryStatus;
  @Field(() => Int, { nullable: true, description: 'HTTP status of the answer; null when none arrived' }) statusCode!: number | null;
  @Field(() => String, { nullable: true, description: 'Why the attempt failed (never the response body)' }) error!: string | null;
  @Field(() => Int) durationMs!: number;
  @Field() createdAt!: Date;
}
export const WebhookDeliveryConnection = Connection(WebhookDeliveryModel, 'WebhookDeliveryConnection');

// Webhooks are ADMIN business wherever they surface.
protectType('Webhook', { subject: 'Webhook' });
protectType('WebhookDelivery', { subject: 'Webhook' });
