import { toAggregateSpec } from './aggregate-spec';
import type { Condition, LiteralValue, Operand } from './condition.types';
import { toNum } from './semantics';
import { resolveCompare, type Domain } from './typing';

/**
 * How far a count has to go to decide its comparison with a constant, or undefined when it must be exact.
 *
 * A count `c` is a whole number ≥ 0. Against a literal `k`, take the cap `C = max(0, ⌊k⌋ + 1)`. While
 * `c < C` the capped value `min(c, C)` is `c` itself. Once `c ≥ C`, both `c` and `C` are greater than `k`
 * (`C > k` by construction), so each of eq, ne, gt, gte, lt, lte gives the same answer for both — the
 * operator does not matter. For in/notIn against an array of numbers the same holds with `k` the largest
 * member (every member is then below both values); an empty array needs no counting at all (cap 0).
 * A cap too large for a bigint LIMIT is no help and is left out.
 */
export function countCap(domain: Domain, literal: LiteralValue): number | undefined {
  let k: number | null;
  if (domain.kind === 'number') k = toNum(literal);
  else if (domain.kind === 'memberNumber' && Array.isArray(literal)) {
    const members = literal.map(toNum).filter((n): n is number => n !== null);
    k = members.length ? Math.max(...members) : -1;
  } else return undefined;
  if (k === null) return undefined;
  const cap = Math.max(0, Math.floor(k) + 1);
  return Number.isSafeInteger(cap) ? cap : undefined;
}

/**
 * The cap of every aggregate (by key) the condition reads: a count compared directly with a literal gets
 * `countCap`; any other use — another function, a non-literal on the other side, inside `mul` — needs the
 * exact value (Infinity). One aggregate used in several places takes the largest cap of its uses.
 */
export function countCaps(condition: Condition): Map<string, number> {
  const caps = new Map<string, number>();
  const use = (key: string, cap: number) => caps.set(key, Math.max(caps.get(key) ?? 0, cap));
  const exact = (o: Operand): void => {
    if ('aggregate' in o) use(toAggregateSpec(o.aggregate).key, Infinity);
    else if ('mul' in o) o.mul.forEach(exact);
  };
  const walk = (c: Condition): void => {
    if ('all' in c) c.all.forEach(walk);
    else if ('any' in c) c.any.forEach(walk);
    else if ('not' in c) walk(c.not); // the capped value keeps the comparison's truth, so negation keeps it too
    else {
      const { left, op, right } = c.compare;
      const typed = resolveCompare(left, op, right);
      for (const [side, other] of [
        [left, right],
        [right, left],
      ] as const) {
        if ('aggregate' in side && side.aggregate.fn === 'count' && 'value' in other && !('errors' in typed)) {
          use(toAggregateSpec(side.aggregate).key, countCap(typed.domain, other.value) ?? Infinity);
        } else exact(side);
      }
    }
  };
  walk(condition);
  return caps;
}
