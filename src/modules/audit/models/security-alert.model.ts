import { Field, ID, ObjectType } from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { Connection } from '../../../common/pagination/connection';
import { AuditActorType, SecurityAlertKind, SecurityAlertStatus } from './audit.enums';

/**
 * An insider/abuse signal (AUDITOR only). `actor` and `partner` are ids as the audit log records them —
 * a user id, or a partner token id with its partner — so a reviewer can filter `auditLog` by them.
 */
@ObjectType('SecurityAlert')
export class SecurityAlertModel {
  @Field(() => ID) id!: string;
  @Field(() => SecurityAlertKind) kind!: SecurityAlertKind;
  @Field(() => AuditActorType, { nullable: true }) actorType!: AuditActorType | null;
  @Field(() => String, { nullable: true, description: 'The actor id (user id or partner token id); null for CHAIN_INVALID' })
  actor!: string | null;
  @Field(() => String, { nullable: true, description: 'The partner id when the actor is a partner token' })
  partner!: string | null;
  @Field(() => GraphQLJSON, { description: 'Counts, threshold, window, network: what triggered the alert (no PII)' })
  detail!: Record<string, unknown>;
  @Field(() => SecurityAlertStatus) status!: SecurityAlertStatus;
  @Field() createdAt!: Date;
  @Field() updatedAt!: Date;
}

export const SecurityAlertConnection = Connection(SecurityAlertModel, 'SecurityAlertConnection');
