import { compileCondition } from './compile-condition';
import type { EvaluationContext } from './condition.types';
import { countCap } from './count-cap';
import { comparator } from './semantics';

const cmp = (left: unknown, op: string, right: unknown) => ({ compare: { left, op, right } });
const v = (value: unknown) => ({ value });
const count = (window = 'PT15M') => ({ aggregate: { fn: 'count', eventTypes: ['LOGIN'], window } });
const ORDERED = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte'] as const;
const LITERALS = [-2.5, -1, 0, 0.5, 1, 2, 2.5, 3, 5, 9.99, 10];
const counts = (upTo: number) => Array.from({ length: upTo + 1 }, (_, i) => i);

describe('countCap: min(count, cap) decides a comparison with a literal exactly as the count does', () => {
  it.each(ORDERED)('count %s k, for every k and every count around it', (op) => {
    const test = comparator({ kind: 'number' }, op);
    for (const k of LITERALS) {
      const cap = countCap({ kind: 'number' }, k)!;
      expect(cap).toBe(Math.max(0, Math.floor(k) + 1));
      for (const c of counts(Math.max(0, Math.ceil(k)) + 5)) {
        expect({ op, k, c, value: test(Math.min(c, cap), k) }).toEqual({ op, k, c, value: test(c, k) });
        expect({ op, k, c, flipped: test(k, Math.min(c, cap)) }).toEqual({ op, k, c, flipped: test(k, c) });
      }
    }
  });

  it('stops exactly one past the literal: the boundary values', () => {
    expect(countCap({ kind: 'number' }, 5)).toBe(6); // >= 5: 5 is true, 6 stands for everything above
    expect(countCap({ kind: 'number' }, 1)).toBe(2); // = 1: "seen once" vs "seen before"
    expect(countCap({ kind: 'number' }, 0)).toBe(1);
    expect(countCap({ kind: 'number' }, 2.5)).toBe(3);
    expect(countCap({ kind: 'number' }, -1)).toBe(0); // every count is above: nothing to count
  });

  it.each(['in', 'notIn'] as const)('count %s [numbers] caps one past the largest member', (op) => {
    const domain = { kind: 'memberNumber' } as const;
    const test = comparator(domain, op);
    for (const members of [[], [0], [1, 3], [2.5], [-1, 4], [7, 2, 7]]) {
      const cap = countCap(domain, members)!;
      const set = new Set(members);
      for (const c of counts(12)) {
        expect({ op, members, c, value: test(Math.min(c, cap), set) }).toEqual({ op, members, c, value: test(c, set) });
      }
    }
    expect(countCap(domain, [1, 3])).toBe(4);
    expect(countCap(domain, [])).toBe(0);
  });

  it('leaves a count exact when no finite cap helps', () => {
    expect(countCap({ kind: 'number' }, 1e300)).toBeUndefined();
    expect(countCap({ kind: 'number' }, null)).toBeUndefined();
    expect(countCap({ kind: 'isNull', side: 'left' }, null)).toBeUndefined();
  });
});

describe('compileCondition: which counts get a cap', () => {
  const capOf = (json: unknown) => compileCondition(json).aggregates.map((a) => a.countCap);
  const failed = cmp({ field: 'attributes.outcome' }, 'eq', v('FAILURE'));

  it.each([
    ['gte 5', cmp(count(), 'gte', v(5)), [6]],
    ['literal on the left', cmp(v(5), 'lt', count()), [6]],
    ['eq 1', cmp(count(), 'eq', v(1)), [2]],
    ['under not', { not: cmp(count(), 'gt', v(2)) }, [3]],
    ['in an any', { any: [failed, cmp(count(), 'lte', v(0))] }, [1]],
    ['in [..]', cmp(count(), 'in', v([2, 4])), [5]],
    ['two uses: the largest cap', { all: [cmp(count(), 'gte', v(5)), cmp(count(), 'lt', v(100))] }, [101]],
    ['against a customer number', cmp(count(), 'gt', { customer: 'riskScore' }), [undefined]],
    ['against another aggregate', cmp(count(), 'gt', count('PT1H')), [undefined, undefined]],
    ['inside mul', cmp({ mul: [count(), v(2)] }, 'gt', v(5)), [undefined]],
    ['also used inside mul', { all: [cmp(count(), 'gte', v(5)), cmp({ mul: [count(), v(2)] }, 'gt', v(5))] }, [undefined]],
    ['eq null', cmp(count(), 'eq', v(null)), [undefined]],
    ['a sum', cmp({ aggregate: { fn: 'sum', field: 'amount', eventTypes: ['TRANSACTION'], window: 'PT1H' } }, 'gt', v(5)), [undefined]],
    ['a distinct count', cmp({ aggregate: { fn: 'distinctCount', field: 'deviceId', eventTypes: ['LOGIN'], window: 'PT1H' } }, 'gt', v(5)), [undefined]],
  ])('%s', (_, json, caps) => {
    expect(capOf(json)).toEqual(caps);
  });

  it('does not change the key: capped and exact uses share one aggregate', () => {
    const capped = compileCondition(cmp(count(), 'gte', v(5))).aggregates[0];
    const exact = compileCondition(cmp(count(), 'gt', { customer: 'riskScore' })).aggregates[0];
    expect(capped.key).toBe(exact.key);
  });

  /** Evaluates with the true count and with the capped one, for every count up to well past the caps. */
  it.each([
    { all: [cmp(count(), 'gte', v(5)), { not: cmp(count(), 'gt', v(7)) }] },
    { any: [cmp(count(), 'eq', v(3)), cmp(v(1), 'gte', count('PT1H'))] },
    cmp(count(), 'notIn', v([0, 2, 6])),
    { not: cmp(count(), 'ne', v(4)) },
    cmp(count(), 'lt', v(2.5)),
  ])('gives the same verdicts with capped values: %j', (json) => {
    const compiled = compileCondition(json);
    for (const c of counts(15)) {
      const ctx = (capped: boolean): EvaluationContext => ({
        event: {},
        customer: {},
        list: () => new Set(),
        aggregate: (key) => {
          const spec = compiled.aggregates.find((a) => a.key === key)!;
          return capped && spec.countCap !== undefined ? Math.min(c, spec.countCap) : c;
        },
      });
      expect(compiled.aggregates.every((a) => a.countCap !== undefined)).toBe(true);
      expect({ c, verdict: compiled.evaluate(ctx(true)) }).toEqual({ c, verdict: compiled.evaluate(ctx(false)) });
    }
  });
});
