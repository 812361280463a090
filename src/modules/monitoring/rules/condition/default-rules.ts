import type { Condition } from './condition.types';
import { COMMUNICATION_FLAGS, EVENT_TYPES, type EventType } from './vocabulary';

export type RuleSeverity = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';
export type RuleAction = 'RAISE_ALERT' | 'REVIEW' | 'HOLD_TRANSACTION' | 'BLOCK' | 'NOTIFY_ACCOUNT_MANAGER' | 'LOCK_LOGIN';

export interface DefaultRule {
  code: string;
  name: string;
  description: string;
  /** Event types the rule is evaluated for. */
  eventTypes: EventType[];
  severity: RuleSeverity;
  actions: RuleAction[];
  mode: 'ENFORCE';
  dedupWindow: string;
  condition: Condition;
}

/** The watchlist `WATCHLIST_COUNTERPARTY` reads; seeded empty (SPEC §8). */
export const SANCTIONED_COUNTERPARTIES = 'SANCTIONED_COUNTERPARTIES';

const failed = { compare: { left: { field: 'attributes.outcome' }, op: 'eq', right: { value: 'FAILURE' } } } as const;

function rule(r: Omit<DefaultRule, 'mode' | 'dedupWindow'>): DefaultRule {
  return { ...r, mode: 'ENFORCE', dedupWindow: 'P1D' };
}

/** The default rule pack (SPEC §5, §8), seeded ACTIVE in ENFORCE mode; every rule raises an alert. */
export const DEFAULT_RULE_CONDITIONS: readonly DefaultRule[] = [
  rule({
    code: 'LARGE_TRANSACTION',
    name: 'Large transaction',
    description: "A transaction above the customer's per-transaction limit is held and the account manager notified.",
    eventTypes: ['TRANSACTION'],
    severity: 'HIGH',
    actions: ['RAISE_ALERT', 'HOLD_TRANSACTION', 'NOTIFY_ACCOUNT_MANAGER'],
    condition: { compare: { left: { field: 'amount' }, op: 'gt', right: { customer: 'transactionLimit' } } },
  }),
  rule({
    code: 'FREQUENT_PROFILE_CHANGES',
    name: 'Frequent profile changes',
    description: 'Three or more profile changes within 24 hours.',
    eventTypes: ['PROFILE_CHANGE'],
    severity: 'MEDIUM',
    actions: ['RAISE_ALERT', 'REVIEW'],
    condition: {
      compare: {
        left: { aggregate: { fn: 'count', eventTypes: ['PROFILE_CHANGE'], window: 'P1D' } },
        op: 'gte',
        right: { value: 3 },
      },
    },
  }),
  rule({
    code: 'LOGIN_FAILURE_BURST',
    name: 'Login failure burst',
    description: "Five or more failed logins within 15 minutes lock the customer's login.",
    eventTypes: ['LOGIN'],
    severity: 'HIGH',
    actions: ['RAISE_ALERT', 'LOCK_LOGIN'],
    condition: {
      all: [
        failed,
        {
          compare: {
            left: { aggregate: { fn: 'count', eventTypes: ['LOGIN'], window: 'PT15M', where: failed } },
            op: 'gte',
            right: { value: 5 },
          },
        },
      ],
    },
  }),
  rule({
    code: 'HOURLY_VELOCITY',
    name: 'Hourly velocity',
    description: "Transactions within one hour add up to more than the customer's daily limit.",
    eventTypes: ['TRANSACTION'],
    severity: 'MEDIUM',
    actions: ['RAISE_ALERT', 'REVIEW'],
    condition: {
      compare: {
        left: { aggregate: { fn: 'sum', field: 'amount', eventTypes: ['TRANSACTION'], window: 'PT1H' } },
        op: 'gt',
        right: { customer: 'dailyLimit' },
      },
    },
  }),
  rule({
    code: 'NEW_DEVICE_LARGE_AMOUNT',
    name: 'New device, large amount',
    description:
      "A transaction from a device absent from the customer's events of the previous 90 days, above half the transaction limit.",
    eventTypes: ['TRANSACTION'],
    severity: 'MEDIUM',
    actions: ['RAISE_ALERT', 'REVIEW'],
    condition: {
      all: [
        { compare: { left: { field: 'deviceId' }, op: 'ne', right: { value: null } } },
        {
          // The window includes the current event, so "never seen before" is a count of exactly one.
          compare: {
            left: {
              aggregate: {
                fn: 'count',
                eventTypes: [...EVENT_TYPES],
                window: 'P90D',
                where: { compare: { left: { field: 'deviceId' }, op: 'eq', right: { current: 'deviceId' } } },
              },
            },
            op: 'eq',
            right: { value: 1 },
          },
        },
        {
          compare: {
            left: { field: 'amount' },
            op: 'gt',
            right: { mul: [{ customer: 'transactionLimit' }, { value: 0.5 }] },
          },
        },
      ],
    },
  }),
  rule({
    code: 'DORMANT_REACTIVATION',
    name: 'Dormant account reactivation',
    description: 'A transaction above 5000 after 90 or more days without activity.',
    eventTypes: ['TRANSACTION'],
    severity: 'MEDIUM',
    actions: ['RAISE_ALERT', 'REVIEW'],
    condition: {
      all: [
        // Null for a customer with no previous event: never dormant.
        { compare: { left: { customer: 'daysSinceLastActivity' }, op: 'gte', right: { value: 90 } } },
        { compare: { left: { field: 'amount' }, op: 'gt', right: { value: 5000 } } },
      ],
    },
  }),
  rule({
    code: 'SPENDING_SPIKE',
    name: 'Spending spike',
    description: 'A transaction above five times the average transaction of the 7 days before the current 24 hours.',
    eventTypes: ['TRANSACTION'],
    severity: 'MEDIUM',
    actions: ['RAISE_ALERT', 'REVIEW'],
    condition: {
      compare: {
        left: { field: 'amount' },
        op: 'gt',
        right: {
          mul: [
            // (occurredAt − 8 days, occurredAt − 1 day]; null (no history) never fires.
            { aggregate: { fn: 'avg', field: 'amount', eventTypes: ['TRANSACTION'], window: 'P7D', offset: 'P1D' } },
            { value: 5 },
          ],
        },
      },
    },
  }),
  rule({
    code: 'COMMUNICATION_FLAG',
    name: 'Flagged communication',
    description: 'A communication whose content was flagged at ingest (threats, fraud words).',
    eventTypes: ['COMMUNICATION'],
    severity: 'MEDIUM',
    actions: ['RAISE_ALERT'],
    condition: {
      any: Object.values(COMMUNICATION_FLAGS).map((flag) => ({
        compare: { left: { field: 'flags' }, op: 'contains', right: { value: flag } },
      })),
    },
  }),
  rule({
    code: 'WATCHLIST_COUNTERPARTY',
    name: 'Watchlisted counterparty',
    description: 'A transaction or payment to a counterparty on the sanctioned counterparties watchlist is blocked.',
    eventTypes: ['TRANSACTION', 'PAYMENT'],
    severity: 'CRITICAL',
    actions: ['RAISE_ALERT', 'BLOCK'],
    condition: { compare: { left: { field: 'counterpartyRef' }, op: 'in', right: { list: SANCTIONED_COUNTERPARTIES } } },
  }),
  rule({
    code: 'VERIFICATION_FAILURES',
    name: 'Verification failures',
    description: 'Three or more failed verifications within one hour.',
    eventTypes: ['VERIFICATION'],
    severity: 'MEDIUM',
    actions: ['RAISE_ALERT', 'REVIEW'],
    condition: {
      all: [
        failed,
        {
          compare: {
            left: { aggregate: { fn: 'count', eventTypes: ['VERIFICATION'], window: 'PT1H', where: failed } },
            op: 'gte',
            right: { value: 3 },
          },
        },
      ],
    },
  }),
];
