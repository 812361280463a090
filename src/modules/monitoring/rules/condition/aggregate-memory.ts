import type Big from 'big.js';
import { compileWhere } from './compile-condition';
import type { AggregateSpec } from './condition.types';
import { decimalKey, readField, toDecimal, toText } from './semantics';

/**
 * The meaning of an aggregate, computed over events in memory. It is the reference `buildAggregateQuery`
 * is tested against, and serves backtests or callers that already hold the customer's events.
 * `rows` are the customer's events shaped like `EvaluationContext.event` with `type` and `occurredAt`;
 * `current` is the event being evaluated and `customer` its customer (for `customer` operands in `where`).
 * Values are exact, shaped as `readAggregateRow` gives them: counts as numbers; sum, avg and max as decimal
 * text (avg to 20 decimal places, where PostgreSQL keeps at least 16 significant digits).
 */
export function computeAggregateInMemory(
  spec: AggregateSpec,
  rows: readonly Record<string, unknown>[],
  current: Record<string, unknown>,
  list: (code: string) => ReadonlySet<string>,
  customer: Record<string, unknown> = {},
): number | string | null {
  const end = timeOf(current.occurredAt) - spec.offsetMs;
  const start = end - spec.windowMs;
  const where = spec.where ? compileWhere(spec.where) : null;
  const matching = rows.filter((row) => {
    const t = timeOf(row.occurredAt);
    return (
      spec.eventTypes.includes(row.type as never) && t > start && t <= end && (where === null || where(row, current, list, customer))
    );
  });
  if (spec.fn === 'count') return matching.length;
  const read = readField(spec.field ?? 'amount');
  if (spec.fn === 'distinctCount') {
    const values = matching.map((r) => (spec.field === 'amount' ? decimalKey(read(r)) : toText(read(r))));
    return new Set(values.filter((v) => v !== null)).size;
  }
  const numbers = matching.map((r) => toDecimal(read(r))).filter((n): n is Big => n !== null);
  const sum = () => numbers.reduce((a, b) => a.plus(b));
  if (spec.fn === 'sum') return numbers.length ? sum().toFixed() : '0';
  if (numbers.length === 0) return null;
  if (spec.fn === 'max') return numbers.reduce((a, b) => (b.gt(a) ? b : a)).toFixed();
  return sum().div(numbers.length).toFixed();
}

function timeOf(v: unknown): number {
  const t = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new Error('computeAggregateInMemory: occurredAt must be a Date or an ISO timestamp');
  return t;
}
