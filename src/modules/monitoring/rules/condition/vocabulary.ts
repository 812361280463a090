/** The names the rule condition language knows about (SPEC §5 "Rule condition language"). */

export const EVENT_TYPES = [
  'TRANSACTION',
  'LOGIN',
  'PROFILE_CHANGE',
  'COMMUNICATION',
  'VERIFICATION',
  'PAYMENT',
  'COMPLAINT',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Event fields addressable by `field` and `current` (plus `attributes.<key>`). */
export const EVENT_FIELDS = [
  'amount',
  'currency',
  'channel',
  'country',
  'deviceId',
  'ipAddress',
  'counterpartyRef',
  'flags',
] as const;
export type EventFieldName = (typeof EVENT_FIELDS)[number];
export type EventField = EventFieldName | `attributes.${string}`;

export const ATTRIBUTE_KEY_RE = /^[A-Za-z0-9_]{1,64}$/;

export const CUSTOMER_ATTRIBUTES = [
  'riskLevel',
  'riskScore',
  'status',
  'transactionLimit',
  'dailyLimit',
  'verificationLevel',
  'creditLevel',
  'accountAgeDays',
  'daysSinceLastActivity',
] as const;
export type CustomerAttribute = (typeof CUSTOMER_ATTRIBUTES)[number];

export const COMPARE_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'notIn', 'contains'] as const;
export type CompareOp = (typeof COMPARE_OPS)[number];

export const AGGREGATE_FNS = ['count', 'sum', 'avg', 'max', 'distinctCount'] as const;
export type AggregateFn = (typeof AGGREGATE_FNS)[number];

/** Ordered scales: gt/gte/lt/lte compare positions, not spelling. */
export const RISK_LEVELS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export const VERIFICATION_LEVELS = ['NONE', 'BASIC', 'VERIFIED', 'ENHANCED'] as const;
export const CUSTOMER_STATUSES = ['ACTIVE', 'RESTRICTED', 'SUSPENDED', 'TERMINATED', 'ERASED'] as const;

/** Flags the ingest code sets on `COMMUNICATION` events whose content it flagged; rules test them with `contains`. */
export const COMMUNICATION_FLAGS = { THREAT: 'THREAT', FRAUD: 'FRAUD' } as const;
export type CommunicationFlag = (typeof COMMUNICATION_FLAGS)[keyof typeof COMMUNICATION_FLAGS];

/** Watchlist codes as rules may name them. */
export const LIST_CODE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const LIMITS = {
  /** Nesting of condition and operand nodes together. */
  maxDepth: 16,
  /** Condition and operand nodes in one rule. */
  maxNodes: 200,
  maxStringLength: 1000,
  maxArrayItems: 1000,
} as const;
