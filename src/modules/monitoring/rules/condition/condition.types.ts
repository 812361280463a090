import type { AggregateFn, CompareOp, CustomerAttribute, EventField, EventType } from './vocabulary';

/** The condition language as stored in `rule.condition` (JSON). Validate with `validateCondition` first. */
export type Condition = AllCondition | AnyCondition | NotCondition | CompareCondition;
export interface AllCondition {
  all: Condition[];
}
export interface AnyCondition {
  any: Condition[];
}
export interface NotCondition {
  not: Condition;
}
export interface CompareCondition {
  compare: { left: Operand; op: CompareOp; right: Operand };
}

export type Literal = string | number | boolean | null;
export type LiteralValue = Literal | Literal[];

export type Operand =
  | ValueOperand
  | FieldOperand
  | CustomerOperand
  | AggregateOperand
  | CurrentOperand
  | ListOperand
  | MulOperand;
export interface ValueOperand {
  value: LiteralValue;
}
/** A field of the event being evaluated — inside an aggregate's `where`, of each past event counted. */
export interface FieldOperand {
  field: EventField;
}
export interface CustomerOperand {
  customer: CustomerAttribute;
}
/** Only inside an aggregate's `where`: a field of the event being evaluated (the one that triggered). */
export interface CurrentOperand {
  current: EventField;
}
/** Only as the right operand of `in`/`notIn`: the entries of a watchlist. */
export interface ListOperand {
  list: string;
}
export interface MulOperand {
  mul: [Operand, Operand];
}
export interface AggregateOperand {
  aggregate: AggregateJson;
}

/**
 * An aggregate over the customer's events of `eventTypes` in `(occurredAt − offset − window, occurredAt − offset]`.
 * `offset` (default zero) is this implementation's extension: it lets a window end before the current event,
 * e.g. the spike rule's "average over the 7 days before the current 24 hours" is `window P7D, offset P1D`.
 * With no offset the current event is inside the window (SPEC §8).
 */
export interface AggregateJson {
  fn: AggregateFn;
  field?: EventField;
  eventTypes: EventType[];
  window: string;
  offset?: string;
  where?: Condition;
}

/** An aggregate in normalised form: what SQL needs, keyed for sharing across the rules of one event. */
export interface AggregateSpec {
  /** Canonical JSON of the other members: equal aggregates of different rules share one key and one SQL column. */
  key: string;
  fn: AggregateFn;
  field?: EventField;
  /** In EVENT_TYPES order, without duplicates. */
  eventTypes: EventType[];
  windowMs: number;
  offsetMs: number;
  where?: Condition;
  /**
   * Set on a count that its rule compares only with constants: the value may stop at this many, i.e. be
   * `min(true count, countCap)`, which decides every such comparison exactly as the true count would (see
   * `countCap`). Not part of `key`; specs of one key merge to the largest cap, or none if one lacks it.
   */
  countCap?: number;
}

/**
 * What a compiled condition reads. `event` and `customer` are plain objects with the names of the language:
 * event `{amount (number or decimal string), currency, channel, country, deviceId, ipAddress, counterpartyRef,
 * flags: string[], attributes: {...}, type, occurredAt}`, customer `{riskLevel, riskScore, status,
 * transactionLimit, dailyLimit, verificationLevel, creditLevel, accountAgeDays, daysSinceLastActivity}`
 * (missing or null values make comparisons false).
 */
export interface EvaluationContext {
  event: Record<string, unknown>;
  customer: Record<string, unknown>;
  /**
   * The value computed beforehand (see `buildAggregateQuery`, `readAggregateRow`) for `AggregateSpec.key`:
   * a number or decimal text (a sum or average keeps every digit as text), null when there is none.
   */
  aggregate(key: string): number | string | null;
  /** Entries of a watchlist; an unknown list should be given as empty. */
  list(code: string): ReadonlySet<string>;
}

export interface CompiledCondition {
  evaluate(ctx: EvaluationContext): boolean;
  /**
   * The verdict before any aggregate is computed (`ctx.customer` without `daysSinceLastActivity`): true or
   * false when no aggregate value could change it — `evaluate` then gives the same — and undefined when the
   * rule's aggregates are needed. Lets the engine compute only the aggregates of undecided rules.
   */
  decide(ctx: Omit<EvaluationContext, 'aggregate'>): boolean | undefined;
  /** Distinct aggregates (by key) the condition reads, in first-use order. */
  aggregates: AggregateSpec[];
  /** Watchlist codes the condition reads, including inside aggregates' `where`. */
  lists: string[];
  /** Customer attributes the condition reads (lets the caller skip costly ones such as daysSinceLastActivity). */
  customerAttributes: CustomerAttribute[];
  /** Event types the aggregates read. */
  eventTypesReferenced: EventType[];
}
