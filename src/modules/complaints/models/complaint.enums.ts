import { registerEnumType } from '@nestjs/graphql';

export enum ComplaintStatus {
  RECEIVED = 'RECEIVED',
  ACKNOWLEDGED = 'ACKNOWLEDGED',
  INVESTIGATING = 'INVESTIGATING',
  RESOLVED = 'RESOLVED',
  REOPENED = 'REOPENED',
  CLOSED = 'CLOSED',
}
export enum ComplaintChannel { PHONE = 'PHONE', EMAIL = 'EMAIL', ONLINE = 'ONLINE', IN_PERSON = 'IN_PERSON', SOCIAL = 'SOCIAL', PARTNER = 'PARTNER' }
export enum Remedy { REFUND = 'REFUND', REPLACEMENT = 'REPLACEMENT', COMPENSATION = 'COMPENSATION', APOLOGY = 'APOLOGY', NONE = 'NONE' }
export enum ComplaintActivityKind {
  FILED = 'FILED',
  ACKNOWLEDGED = 'ACKNOWLEDGED',
  ASSIGNED = 'ASSIGNED',
  INVESTIGATION_STARTED = 'INVESTIGATION_STARTED',
  NOTE_ADDED = 'NOTE_ADDED',
  RESOLVED = 'RESOLVED',
  FEEDBACK_RECORDED = 'FEEDBACK_RECORDED',
  REOPENED = 'REOPENED',
  CLOSED = 'CLOSED',
  ESCALATED = 'ESCALATED',
}
export enum ComplaintActorType { USER = 'USER', PARTNER = 'PARTNER', SYSTEM = 'SYSTEM' }
export enum ComplaintStatsGroupBy { CATEGORY = 'CATEGORY', CHANNEL = 'CHANNEL', SEVERITY = 'SEVERITY', DAY = 'DAY' }
export enum ComplaintOrderField { RECEIVED_AT = 'RECEIVED_AT', RESOLVE_BY = 'RESOLVE_BY' }

registerEnumType(ComplaintStatus, { name: 'ComplaintStatus', description: 'RECEIVED → ACKNOWLEDGED → INVESTIGATING → RESOLVED → CLOSED; RESOLVED → REOPENED → INVESTIGATING' });
registerEnumType(ComplaintChannel, { name: 'ComplaintChannel' });
registerEnumType(Remedy, { name: 'Remedy' });
registerEnumType(ComplaintActivityKind, { name: 'ComplaintActivityKind' });
registerEnumType(ComplaintActorType, { name: 'ComplaintActorType' });
registerEnumType(ComplaintStatsGroupBy, { name: 'ComplaintStatsGroupBy' });
registerEnumType(ComplaintOrderField, { name: 'ComplaintOrderField' });
