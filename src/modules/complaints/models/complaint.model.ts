import { Field, Float, ID, Int, ObjectType } from '@nestjs/graphql';
import { auditFullReads } from '../../../access/field-policy';
import { Connection } from '../../../common/pagination/connection';
import { DecimalScalar, JSONScalar } from '../../../common/scalars/scalars';
import { Severity } from '../../monitoring/models/monitoring.enums';
import { ComplaintActivityKind, ComplaintActorType, ComplaintChannel, ComplaintStatus, Remedy } from './complaint.enums';

@ObjectType('ComplaintResolution')
export class ComplaintResolutionModel {
  @Field(() => String, { nullable: true, description: 'Decrypted for readers of the complaint; null once the customer is erased' }) summary!: string | null;
  @Field(() => Remedy) remedy!: Remedy;
  @Field(() => DecimalScalar, { nullable: true }) amount!: string | null;
  @Field() resolvedAt!: Date;
  /** The customer whose key sealed the text; not exposed, it names the customer in the read's audit entry. */
  customerId?: string;
}

@ObjectType('ComplaintFeedback')
export class ComplaintFeedbackModel {
  @Field(() => Int, { description: '1 (very unhappy) to 5' }) satisfaction!: number;
  @Field(() => String, { nullable: true }) comment!: string | null;
  @Field() recordedAt!: Date;
  /** The customer whose key sealed the text; not exposed, it names the customer in the read's audit entry. */
  customerId?: string;
}

/**
 * A complaint as the API shows it. Free text (description, notes, resolution summary, feedback comment)
 * is stored encrypted under the customer's data key and decrypted only for principals whose row scope
 * includes the complaint. The row-scope columns are internal, not GraphQL fields.
 */
@ObjectType('Complaint')
export class ComplaintModel {
  @Field(() => ID) id!: string;
  @Field(() => ID) customerId!: string;
  @Field(() => ComplaintChannel) channel!: ComplaintChannel;
  @Field({ description: 'A code from the configurable category list' }) category!: string;
  @Field(() => Severity) severity!: Severity;
  @Field() subject!: string;
  @Field(() => String, { nullable: true, description: 'What the customer said; null once the customer is erased' }) description!: string | null;
  @Field(() => ComplaintStatus) status!: ComplaintStatus;
  @Field(() => ID, { nullable: true }) assigneeId!: string | null;
  @Field(() => ID, { nullable: true, description: 'Set when a partner filed it' }) filedByPartnerId!: string | null;
  @Field() receivedAt!: Date;
  @Field({ description: 'SLA: acknowledge by (calendar hours from receivedAt, by severity)' }) acknowledgeBy!: Date;
  @Field({ description: 'SLA: resolve by' }) resolveBy!: Date;
  @Field(() => Date, { nullable: true }) acknowledgedAt!: Date | null;
  @Field(() => Date, { nullable: true }) closedAt!: Date | null;
  @Field({ description: 'A deadline was missed (set by the SLA sweep)' }) escalated!: boolean;
  @Field(() => Date, { nullable: true }) escalatedAt!: Date | null;
  @Field({ description: 'A deadline has passed without the state it asks for' }) overdue!: boolean;
  @Field(() => ComplaintResolutionModel, { nullable: true }) resolution!: ComplaintResolutionModel | null;
  @Field(() => ComplaintFeedbackModel, { nullable: true }) feedback!: ComplaintFeedbackModel | null;
  @Field(() => Int) reopenCount!: number;
  @Field() createdAt!: Date;
  @Field() updatedAt!: Date;

  accountManagerId!: string | null;
  onboardedByPartnerId!: string | null;
}
export const ComplaintConnection = Connection(ComplaintModel, 'ComplaintConnection');

@ObjectType('ComplaintTimelineEntry', { description: 'One change of a complaint: who, when, what' })
export class ComplaintTimelineEntryModel {
  @Field(() => ID) id!: string;
  @Field(() => ComplaintActivityKind) kind!: ComplaintActivityKind;
  @Field(() => ComplaintActorType) actorType!: ComplaintActorType;
  @Field(() => ID, { nullable: true, description: 'The user or partner; null for SYSTEM' }) actorId!: string | null;
  @Field(() => ComplaintStatus, { nullable: true }) fromStatus!: ComplaintStatus | null;
  @Field(() => ComplaintStatus, { nullable: true }) toStatus!: ComplaintStatus | null;
  @Field(() => String, { nullable: true, description: 'A note or reopen reason, decrypted' }) note!: string | null;
  @Field(() => JSONScalar, { description: 'Non-PII facts: assigneeId, satisfaction, remedy, missed deadline, alertId' }) detail!: Record<string, unknown>;
  @Field() at!: Date;
  /** The customer whose key sealed the text; not exposed, it names the customer in the read's audit entry. */
  customerId?: string;
}

// Complaint free text is the customer's PII (SPEC §4): reading it in full is audited under that customer.
const byCustomer = (row: Record<string, unknown>) => row.customerId as string | undefined;
auditFullReads('Complaint', { fields: ['description'], customerIdOf: byCustomer });
auditFullReads('ComplaintResolution', { fields: ['summary'], customerIdOf: byCustomer });
auditFullReads('ComplaintFeedback', { fields: ['comment'], customerIdOf: byCustomer });
auditFullReads('ComplaintTimelineEntry', { fields: ['note'], customerIdOf: byCustomer });

@ObjectType('ComplaintStat', { description: 'One group of complaints received in the period' })
export class ComplaintStatModel {
  @Field({ description: 'The category, channel or severity code, or the day (YYYY-MM-DD, UTC)' }) key!: string;
  @Field(() => Int) count!: number;
  @Field(() => Int, { description: 'Not yet resolved (RECEIVED, ACKNOWLEDGED, INVESTIGATING, REOPENED)' }) open!: number;
  @Field(() => Int, { description: 'Escalated, or a deadline missed (acknowledged or resolved late, or still short of it)' }) slaBreached!: number;
  @Field(() => Float, { nullable: true, description: 'Median of resolvedAt − receivedAt over resolved ones' }) medianHoursToResolve!: number | null;
  @Field(() => Float, { nullable: true }) avgSatisfaction!: number | null;
}

@ObjectType('RepeatComplainant')
export class RepeatComplainantModel {
  @Field(() => ID) customerId!: string;
  @Field(() => Int) complaints!: number;
  @Field(() => [String], { description: 'Distinct categories, alphabetical' }) categories!: string[];
  @Field() firstReceivedAt!: Date;
  @Field() lastReceivedAt!: Date;
}
