import { Field, ID, InputType, ObjectType } from '@nestjs/graphql';
import { IsEnum, IsISO8601, IsObject, IsOptional, IsString, IsUUID, Matches, MaxLength, Validate, ValidatorConstraint, type ValidatorConstraintInterface } from 'class-validator';
import { GraphQLJSON } from 'graphql-scalars';
import { auditFullReads, protectType } from '../../../access/field-policy';
import { Connection } from '../../../common/pagination/connection';
import { INSTANT_TIME } from '../../../common/scalars/date-time';
import { DecimalScalar } from '../../../common/scalars/scalars';
import { MaxDecimals } from '../../../common/validation/decimal.decorators';
import { isStorableText, Text } from '../../../common/validation/text.decorators';
import { Decision, EventType, HoldStatus } from './monitoring.enums';

/** `attributes`: at most 50 flat keys with scalar (or short string-array) values; free text belongs in content. */
export function flatAttributes(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (typeof value !== 'object' || Array.isArray(value)) return false;
  const entries = Object.entries(value as Record<string, unknown>);
  // Only text PostgreSQL can store (see isStorableText): the whole call would fail at the insert.
  const text = (x: string) => x.length <= 200 && isStorableText(x);
  return entries.length <= 50 && entries.every(([k, v]) => /^[A-Za-z0-9_.]{1,64}$/.test(k) && (v === null || ['number', 'boolean'].includes(typeof v) || (typeof v === 'string' && text(v)) || (Array.isArray(v) && v.length <= 50 && v.every((x) => typeof x === 'string' && text(x)))));
}

@ValidatorConstraint({ name: 'flatAttributes' })
class FlatAttributes implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return flatAttributes(value);
  }
  defaultMessage(): string {
    return 'x must be an object of at most 50 non-PII keys with scalar values, texts of at most 200 characters without NUL characters or unpaired surrogates (free text belongs in content)';
  }
}

/** Patterns of EventInput's fields, shared with the ingest fast lane (event-input-check.ts). */
export const EVENT_PATTERNS = {
  currency: /^[A-Z]{3}$/,
  country: /^[A-Z]{2}$/,
  ipAddress: /^[0-9a-fA-F:.]{2,45}$/,
  // An instant: a date-time with its offset (`Z` or `±hh:mm`), the same rule as the DateTime scalar's.
  occurredAt: INSTANT_TIME,
} as const;
/** Text fields (trimmed, non-empty) and their maximum lengths. */
export const EVENT_TEXT_MAX = { idempotencyKey: 200, customerExternalRef: 100, channel: 50, deviceId: 200, counterpartyRef: 200 } as const;
export const EVENT_CONTENT_MAX = 10_000;
export const EVENT_AMOUNT_DECIMALS = 2;

@InputType()
export class EventInput {
  @Field() @Text(EVENT_TEXT_MAX.idempotencyKey) idempotencyKey!: string;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsUUID('all', { message: 'x must be an id' }) customerId?: string;
  @Field({ nullable: true }) @Text(EVENT_TEXT_MAX.customerExternalRef, { optional: true }) customerExternalRef?: string;
  @Field(() => EventType) @IsEnum(EventType, { message: 'x must be an event type' }) type!: EventType;
  @Field({ description: 'ISO-8601 date-time with its offset (Z or ±hh:mm)' })
  @IsISO8601({ strict: true }, { message: 'x must be an ISO-8601 date-time' })
  @Matches(EVENT_PATTERNS.occurredAt, { message: 'x must be a date-time with its offset, such as 2026-01-31T09:30:00Z' })
  occurredAt!: string;
  @Field(() => DecimalScalar, { nullable: true }) @IsOptional() @IsString() @MaxDecimals(EVENT_AMOUNT_DECIMALS) amount?: string;
  @Field({ nullable: true, description: 'ISO 4217' }) @IsOptional() @Matches(EVENT_PATTERNS.currency, { message: 'x must be an ISO 4217 code such as EUR' }) currency?: string;
  @Field({ nullable: true }) @Text(EVENT_TEXT_MAX.channel, { optional: true }) channel?: string;
  @Field({ nullable: true, description: 'ISO 3166-1 alpha-2' }) @IsOptional() @Matches(EVENT_PATTERNS.country, { message: 'x must be an ISO 3166-1 alpha-2 code' }) country?: string;
  @Field({ nullable: true }) @IsOptional() @Matches(EVENT_PATTERNS.ipAddress, { message: 'x must be an IP address' }) ipAddress?: string;
  @Field({ nullable: true }) @Text(EVENT_TEXT_MAX.deviceId, { optional: true }) deviceId?: string;
  @Field({ nullable: true }) @Text(EVENT_TEXT_MAX.counterpartyRef, { optional: true }) counterpartyRef?: string;
  @Field({ nullable: true, description: 'Free text (encrypted at rest with the customer key; flagged at ingest)' }) @IsOptional() @IsString() @MaxLength(EVENT_CONTENT_MAX) content?: string;
  @Field(() => GraphQLJSON, { nullable: true, description: 'Non-PII keys only' }) @IsOptional() @IsObject() @Validate(FlatAttributes) attributes?: Record<string, unknown>;
}

/** A stored event. Field policy: staff with event read rights see it all; a partner sees only `id`. */
@ObjectType('Event')
export class EventModel {
  @Field(() => ID) id!: string;
  @Field(() => ID, { nullable: true }) customerId!: string | null;
  @Field(() => EventType, { nullable: true }) type!: EventType | null;
  @Field(() => String, { nullable: true, description: 'The sending partner id, or SYSTEM' }) source!: string | null;
  @Field(() => Date, { nullable: true }) occurredAt!: Date | null;
  @Field(() => Date, { nullable: true }) receivedAt!: Date | null;
  @Field(() => DecimalScalar, { nullable: true }) amount!: string | null;
  @Field(() => String, { nullable: true }) currency!: string | null;
  @Field(() => String, { nullable: true }) channel!: string | null;
  @Field(() => String, { nullable: true }) country!: string | null;
  @Field(() => String, { nullable: true }) deviceId!: string | null;
  @Field(() => String, { nullable: true }) ipAddress!: string | null;
  @Field(() => String, { nullable: true }) counterpartyRef!: string | null;
  @Field(() => [String], { nullable: true }) flags!: string[] | null;
  @Field(() => GraphQLJSON, { nullable: true }) attributes!: unknown;
  @Field(() => Decision, { nullable: true }) decision!: Decision | null;
  @Field(() => HoldStatus, { nullable: true }) holdStatus!: HoldStatus | null;

  /** Row-scope condition for the field policy (not a GraphQL field). */
  accountManagerId!: string | null;
  triggeredRuleIds!: string[];
}
export const EventConnection = Connection(EventModel, 'EventConnection');

@ObjectType('HoldAction')
export class HoldActionModel {
  @Field(() => ID) id!: string;
  @Field() outcome!: string;
  @Field(() => ID, { nullable: true }) actorId!: string | null;
  @Field(() => String, { nullable: true, description: "The resolver's note (RELEASED or REJECTED), stored under the customer's key: null once the customer is erased" })
  note!: string | null;
  @Field() createdAt!: Date;
  /** The customer whose key sealed the note; not exposed, it names the customer in the read's audit entry. */
  customerId?: string;
}

// A hold note is the customer's PII (SPEC §4), as an alert note is: reading it in full is audited under that customer.
auditFullReads('HoldAction', { fields: ['note'], customerIdOf: (row) => row.customerId as string | undefined });

protectType('Event', { subject: 'Event' });
protectType('EventResult', { subject: 'EventResult' });
