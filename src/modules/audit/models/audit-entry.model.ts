import { Field, ID, Int, ObjectType } from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { Connection } from '../../../common/pagination/connection';
import { AuditActorType, AuditOutcome } from './audit.enums';

/** One audit entry. Names of fields, never their values; `details` holds no PII. */
@ObjectType('AuditEntry')
export class AuditEntryModel {
  @Field(() => ID, { description: 'Position in the chain: consecutive integers in commit order' }) id!: string;
  @Field() occurredAt!: Date;
  @Field(() => AuditActorType) actorType!: AuditActorType;
  @Field(() => String, { nullable: true, description: 'User id, partner token id, or null' }) actorId!: string | null;
  @Field(() => String, { nullable: true }) role!: string | null;
  @Field(() => ID, { nullable: true }) partnerId!: string | null;
  @Field(() => ID, { nullable: true }) sessionId!: string | null;
  @Field(() => String, { nullable: true }) ip!: string | null;
  @Field(() => String, { nullable: true }) userAgent!: string | null;
  @Field(() => String, { nullable: true }) requestId!: string | null;
  @Field({ description: 'Verb such as `auth.login`, `customer.read_pii`, `access.denied`, `audit.export`' }) action!: string;
  @Field(() => String, { nullable: true }) resourceType!: string | null;
  @Field(() => String, { nullable: true }) resourceId!: string | null;
  @Field(() => ID, { nullable: true }) customerId!: string | null;
  @Field(() => [String], { description: 'Names of the fields concerned (e.g. the PII fields read)' }) fields!: string[];
  @Field(() => AuditOutcome) outcome!: AuditOutcome;
  @Field(() => GraphQLJSON) details!: unknown;
}

export const AuditEntryConnection = Connection(AuditEntryModel, 'AuditEntryConnection');

/** A sealed chain anchor: the end of an archived (or archivable) segment of the log. */
@ObjectType('AuditChainAnchor')
export class AuditChainAnchorModel {
  @Field(() => ID, { description: 'Anchors are numbered 1, 2, 3… and cover the log end to end' }) id!: string;
  @Field({ description: 'The operator\'s name for the segment, e.g. the month it closes' }) segment!: string;
  @Field(() => ID, { description: 'First entry of the segment' }) firstId!: string;
  @Field(() => ID, { description: 'Last entry of the segment' }) lastId!: string;
  @Field() firstOccurredAt!: Date;
  @Field() lastOccurredAt!: Date;
  @Field({ description: 'Hash of the last entry: the prev_hash the first entry after the segment must carry' }) lastHash!: string;
  @Field(() => Int) entryCount!: number;
  @Field() sealedAt!: Date;
}

@ObjectType('AuditChainReport')
export class AuditChainReportModel {
  @Field({ description: 'True when every entry checked is intact and the head matches the last checkpoint' }) valid!: boolean;
  @Field(() => Int, { description: 'Entries verified intact (before the first break, if any)' }) checked!: number;
  @Field(() => ID, { nullable: true, description: 'The first bad entry; for a removed entry, the missing id; for a cut-off tail, the first id past the remaining head (or the checkpointed id when the chain has grown back)' })
  firstInvalidId!: string | null;
  @Field(() => String, { nullable: true, description: 'MISSING_ENTRY, PREV_HASH_MISMATCH, HASH_MISMATCH, TAIL_TRUNCATED or ANCHOR_INVALID (a chain anchor altered, removed or out of sequence; firstInvalidId is its last entry)' })
  reason!: string | null;
  @Field(() => Int, { description: 'Entries committed but not yet sealed into the chain (written in a transaction and chained just after its commit): not a break' })
  unsealed!: number;
  @Field(() => ID, { nullable: true, description: 'The last entry when verification started' }) headId!: string | null;
  @Field(() => ID, { nullable: true, description: 'The last head checkpointed outside the database' }) checkpointId!: string | null;
  @Field(() => AuditChainAnchorModel, { nullable: true, description: 'The anchor verification started from, when the entries before the first one checked are archived; null when it started from entry 1 or a stored entry' })
  anchoredFrom!: AuditChainAnchorModel | null;
}

/** Who read which PII fields of one customer, and how often (from `customer.read_pii` entries). */
@ObjectType('AccessSummary')
export class AccessSummaryModel {
  @Field(() => AuditActorType) actorType!: AuditActorType;
  @Field(() => String, { nullable: true }) actorId!: string | null;
  @Field(() => String, { nullable: true }) role!: string | null;
  @Field(() => ID, { nullable: true }) partnerId!: string | null;
  @Field(() => [String], { description: 'Every field this actor read in full, or searched by full value, in the period' }) fields!: string[];
  @Field(() => Int, { description: 'Audited full-value reads (one per request)' }) reads!: number;
  @Field(() => Int, { description: 'Searches by a full email, phone or national id that returned this customer (one per request)' }) lookups!: number;
  @Field() firstAt!: Date;
  @Field() lastAt!: Date;
}
