import { forEachOperand, toAggregateSpec } from './aggregate-spec';
import type {
  AggregateSpec,
  CompiledCondition,
  Condition,
  EvaluationContext,
  Operand,
} from './condition.types';
import { countCaps } from './count-cap';
import { comparator, memberSet, multiply, prepareNumber, readField } from './semantics';
import { resolveCompare } from './typing';
import { assertValidCondition } from './validate-condition';
import type { CustomerAttribute, EventType } from './vocabulary';

/** What closures read: the evaluation context, plus the triggering event while inside an aggregate's where. */
interface Scope extends EvaluationContext {
  current?: Record<string, unknown>;
}
type Thunk = (s: Scope) => unknown;
type Predicate = (s: Scope) => boolean;
/** true or false when settled, undefined when it waits on an aggregate (or an attribute computed with them). */
type Verdict = (s: Scope) => boolean | undefined;

/** Customer attributes read from the event table with the aggregates, so unknown before them. */
const DEFERRED_ATTRIBUTES: ReadonlySet<CustomerAttribute> = new Set<CustomerAttribute>(['daysSinceLastActivity']);

/**
 * Compiles a rule condition once into closures; `evaluate` walks no JSON. Validates first (throws
 * `BAD_USER_INPUT`), so a stored condition that no longer validates fails loudly instead of never matching.
 * Aggregates are not computed here: the caller computes `aggregates` for the event beforehand (one SQL
 * statement for all rules, see `buildAggregateQuery`) and serves them through `ctx.aggregate(key)`.
 */
export function compileCondition(json: unknown): CompiledCondition {
  assertValidCondition(json);
  const condition = json as Condition;
  const aggregates = new Map<string, AggregateSpec>();
  const lists = new Set<string>();
  const customerAttributes = new Set<CustomerAttribute>();
  forEachOperand(condition, (o) => {
    if ('list' in o) lists.add(o.list);
    if ('customer' in o) customerAttributes.add(o.customer);
    if ('aggregate' in o) {
      const spec = toAggregateSpec(o.aggregate);
      if (!aggregates.has(spec.key)) aggregates.set(spec.key, spec);
    }
  });
  for (const [key, cap] of countCaps(condition)) {
    if (Number.isFinite(cap)) aggregates.set(key, { ...aggregates.get(key)!, countCap: cap });
  }
  const predicate = compileNode(condition);
  const verdict = compileVerdict(condition);
  const eventTypes = new Set<EventType>([...aggregates.values()].flatMap((a) => a.eventTypes));
  return {
    evaluate: (ctx) => predicate(ctx),
    // No aggregate is read: every comparison that would read one is unknown before it is compiled.
    decide: (ctx) => verdict(ctx as Scope),
    aggregates: [...aggregates.values()],
    lists: [...lists],
    customerAttributes: [...customerAttributes],
    eventTypesReferenced: [...eventTypes],
  };
}

/**
 * The predicate of an aggregate's `where` on one past event (`row`, shaped like `EvaluationContext.event`)
 * against the triggering event (`current`) and the evaluated customer (`customer`, shaped like
 * `EvaluationContext.customer`). It is the reference the SQL translation mirrors, and lets backtests or tests
 * aggregate in memory.
 */
export function compileWhere(
  where: Condition,
): (
  row: Record<string, unknown>,
  current: Record<string, unknown>,
  list: (code: string) => ReadonlySet<string>,
  customer?: Record<string, unknown>,
) => boolean {
  const predicate = compileNode(where);
  return (row, current, list, customer = {}) => predicate({ event: row, current, customer, aggregate: noAggregate, list });
}

/**
 * The value of an operand that reads no past event (value, current, customer, list, or mul of those) — what
 * the SQL translation binds as a parameter.
 */
export function operandValue(
  o: Operand,
  current: Record<string, unknown>,
  list: (code: string) => ReadonlySet<string>,
  customer: Record<string, unknown> = {},
): unknown {
  return compileOperand(o)({ event: {}, current, customer, aggregate: noAggregate, list });
}

function noAggregate(): number | null {
  throw new Error('an aggregate cannot appear inside where');
}

/**
 * The condition in Kleene's three-valued logic, comparisons that read an aggregate or a deferred customer
 * attribute being unknown: a verdict it settles holds whatever values those turn out to have (a false part
 * settles `all`, a true part settles `any`), so the caller may skip computing them.
 */
function compileVerdict(c: Condition): Verdict {
  if ('all' in c || 'any' in c) {
    const all = 'all' in c;
    const parts = (all ? c.all : c.any).map(compileVerdict);
    return (s) => {
      let open = false;
      for (const p of parts) {
        const v = p(s);
        if (v === undefined) open = true;
        else if (v !== all) return v;
      }
      return open ? undefined : all;
    };
  }
  if ('not' in c) {
    const inner = compileVerdict(c.not);
    return (s) => {
      const v = inner(s);
      return v === undefined ? undefined : !v;
    };
  }
  const { left, right } = c.compare;
  if (deferred(left) || deferred(right)) return () => undefined;
  return compileNode(c);
}

function deferred(o: Operand): boolean {
  if ('aggregate' in o) return true;
  if ('customer' in o) return DEFERRED_ATTRIBUTES.has(o.customer);
  if ('mul' in o) return o.mul.some(deferred);
  return false;
}

function compileNode(c: Condition): Predicate {
  if ('all' in c || 'any' in c) {
    const all = 'all' in c;
    const parts = (all ? c.all : c.any).map(compileNode);
    if (parts.length === 1) return parts[0];
    return all
      ? (s) => {
          for (const p of parts) if (!p(s)) return false;
          return true;
        }
      : (s) => {
          for (const p of parts) if (p(s)) return true;
          return false;
        };
  }
  if ('not' in c) {
    const inner = compileNode(c.not);
    return (s) => !inner(s);
  }
  const { left, op, right } = c.compare;
  const typed = resolveCompare(left, op, right);
  if ('errors' in typed) throw new Error(`compileCondition: ${typed.errors[0].message}`); // unreachable after validation
  const { domain } = typed;
  const test = comparator(domain, op);
  if (domain.kind === 'isNull') {
    const tested = compileOperand(domain.side === 'left' ? left : right);
    return (s) => test(tested(s), null);
  }
  const l = compileOperand(left);
  let r = compileOperand(right);
  if ((domain.kind === 'memberText' || domain.kind === 'memberNumber' || domain.kind === 'intersect') && 'value' in right) {
    const members = memberSet(right.value as unknown[], domain); // array literal: coerced once, here
    r = () => members;
  }
  return (s) => test(l(s), r(s));
}

/** A factor of `mul`: a literal is converted once, here (see `prepareNumber`). */
function compileFactor(o: Operand): Thunk {
  if (!('value' in o)) return compileOperand(o);
  const v = prepareNumber(o.value);
  return () => v;
}

function compileOperand(o: Operand): Thunk {
  if ('value' in o) {
    const v = o.value;
    return () => v;
  }
  if ('field' in o) {
    const read = readField(o.field);
    return (s) => read(s.event);
  }
  if ('current' in o) {
    const read = readField(o.current);
    return (s) => read(s.current);
  }
  if ('customer' in o) {
    const name = o.customer;
    return (s) => s.customer[name];
  }
  if ('list' in o) {
    const code = o.list;
    return (s) => s.list(code);
  }
  if ('mul' in o) {
    const [a, b] = o.mul.map(compileFactor);
    return (s) => multiply(a(s), b(s)); // exact: a JS number or a Big, null when a factor is no number
  }
  const key = toAggregateSpec(o.aggregate).key;
  return (s) => {
    const v = s.aggregate(key);
    // A missing aggregate is a caller bug; failing beats a rule that silently never fires.
    if (v === undefined) throw new Error(`aggregate not computed for this event: ${key}`);
    return v;
  };
}
