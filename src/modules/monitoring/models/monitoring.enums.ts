import { registerEnumType } from '@nestjs/graphql';

export enum EventType { TRANSACTION = 'TRANSACTION', LOGIN = 'LOGIN', PROFILE_CHANGE = 'PROFILE_CHANGE', COMMUNICATION = 'COMMUNICATION', VERIFICATION = 'VERIFICATION', PAYMENT = 'PAYMENT', COMPLAINT = 'COMPLAINT' }
export enum Decision { ALLOW = 'ALLOW', REVIEW = 'REVIEW', HOLD = 'HOLD', BLOCK = 'BLOCK' }
export enum HoldStatus { PENDING = 'PENDING', RELEASED = 'RELEASED', REJECTED = 'REJECTED' }
export enum Severity { LOW = 'LOW', MEDIUM = 'MEDIUM', HIGH = 'HIGH', CRITICAL = 'CRITICAL' }
export enum RuleAction { RAISE_ALERT = 'RAISE_ALERT', REVIEW = 'REVIEW', HOLD_TRANSACTION = 'HOLD_TRANSACTION', BLOCK = 'BLOCK', NOTIFY_ACCOUNT_MANAGER = 'NOTIFY_ACCOUNT_MANAGER', LOCK_LOGIN = 'LOCK_LOGIN' }
export enum RuleMode { ENFORCE = 'ENFORCE', SHADOW = 'SHADOW' }
export enum RuleStatus { DRAFT = 'DRAFT', ACTIVE = 'ACTIVE', RETIRED = 'RETIRED' }
export enum AlertKind { RULE = 'RULE', SYSTEMIC = 'SYSTEMIC', SLA_BREACH = 'SLA_BREACH' }
export enum AlertStatus { OPEN = 'OPEN', INVESTIGATING = 'INVESTIGATING', ESCALATED = 'ESCALATED', CLOSED = 'CLOSED' }
export enum AlertTarget { INVESTIGATING = 'INVESTIGATING', ESCALATED = 'ESCALATED', CLOSED = 'CLOSED' }
export enum Disposition { TRUE_POSITIVE = 'TRUE_POSITIVE', FALSE_POSITIVE = 'FALSE_POSITIVE', INCONCLUSIVE = 'INCONCLUSIVE' }

registerEnumType(EventType, { name: 'EventType' });
registerEnumType(Decision, { name: 'Decision', description: 'ALLOW < REVIEW < HOLD < BLOCK' });
registerEnumType(HoldStatus, { name: 'HoldStatus' });
registerEnumType(Severity, { name: 'Severity', description: 'Shared by rules, alerts and complaints' });
registerEnumType(RuleAction, { name: 'RuleAction' });
registerEnumType(RuleMode, { name: 'RuleMode', description: 'SHADOW rules record would-be hits and never act' });
registerEnumType(RuleStatus, { name: 'RuleStatus' });
registerEnumType(AlertKind, { name: 'AlertKind' });
registerEnumType(AlertStatus, { name: 'AlertStatus' });
registerEnumType(AlertTarget, { name: 'AlertTarget' });
registerEnumType(Disposition, { name: 'Disposition' });

export const DECISION_ORDER: Decision[] = [Decision.ALLOW, Decision.REVIEW, Decision.HOLD, Decision.BLOCK];
export const maxDecision = (a: Decision, b: Decision): Decision => (DECISION_ORDER.indexOf(a) >= DECISION_ORDER.indexOf(b) ? a : b);

/** The decision a rule's actions give (SPEC): REVIEW → REVIEW, HOLD_TRANSACTION → HOLD, BLOCK → BLOCK, else ALLOW. */
export function decisionOf(actions: readonly string[]): Decision {
  if (actions.includes(RuleAction.BLOCK)) return Decision.BLOCK;
  if (actions.includes(RuleAction.HOLD_TRANSACTION)) return Decision.HOLD;
  if (actions.includes(RuleAction.REVIEW)) return Decision.REVIEW;
  return Decision.ALLOW;
}
