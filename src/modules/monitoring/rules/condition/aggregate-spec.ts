import { parseDuration } from './duration';
import type { AggregateJson, AggregateSpec, Condition, Operand } from './condition.types';
import { EVENT_TYPES, type EventType } from './vocabulary';

/** JSON with object keys sorted at every level: equal specs give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Normalises a validated aggregate: durations to milliseconds, event types sorted, a stable key. */
export function toAggregateSpec(a: AggregateJson): AggregateSpec {
  const eventTypes = EVENT_TYPES.filter((t): t is EventType => a.eventTypes.includes(t));
  const windowMs = parseDuration(a.window);
  const offsetMs = a.offset === undefined ? 0 : parseDuration(a.offset);
  if (windowMs === null || offsetMs === null) throw new Error('toAggregateSpec: the aggregate was not validated');
  const body = { fn: a.fn, field: a.field, eventTypes, windowMs, offsetMs, where: a.where };
  return { key: canonicalJson(body), ...body, where: countedWhere(a) };
}

/**
 * A `count` with a `field` counts the events where that field holds a value: its `where` gains `field ne
 * null`, the language's own presence test, so SQL and the in-memory reference read it the same way.
 */
function countedWhere(a: AggregateJson): Condition | undefined {
  if (a.fn !== 'count' || a.field === undefined) return a.where;
  const present: Condition = { compare: { left: { field: a.field }, op: 'ne', right: { value: null } } };
  return a.where ? { all: [a.where, present] } : present;
}

/** Calls `visit` on every operand of a condition, descending into mul and aggregates' where. */
export function forEachOperand(c: Condition, visit: (o: Operand) => void): void {
  if ('all' in c) c.all.forEach((x) => forEachOperand(x, visit));
  else if ('any' in c) c.any.forEach((x) => forEachOperand(x, visit));
  else if ('not' in c) forEachOperand(c.not, visit);
  else {
    const walk = (o: Operand): void => {
      visit(o);
      if ('mul' in o) o.mul.forEach(walk);
      if ('aggregate' in o && o.aggregate.where) forEachOperand(o.aggregate.where, visit);
    };
    walk(c.compare.left);
    walk(c.compare.right);
  }
}
