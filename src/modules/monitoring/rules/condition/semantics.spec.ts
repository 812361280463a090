import Big from 'big.js';
import { comparator, compareNumbers, decimalKey, memberSet, multiply, prepareNumber, toDecimal, toDecimalText, toText } from './semantics';

describe('compareNumbers: exact decimals', () => {
  it.each([
    ['999999999999999999.99', '999999999999999999.98', 1],
    ['999999999999999999.98', '999999999999999999.99', -1],
    ['999999999999999999.98', '999999999999999999.980', 0],
    ['5000.30', new Big('1000.06').times(5), 0],
    ['0.3', 0.1 + 0.2, -1], // the double 0.30000000000000004 is what it prints
    [0.3, '0.30', 0],
    ['-0', 0, 0],
    [-0, 0, 0],
    [1e21, '1000000000000000000000', 0],
    [1e-7, '0.0000001', 0],
    [5e-324, 0, 1],
    [9007199254740993n, '9007199254740993', 0],
    [9007199254740993n, 9007199254740992, 1],
    [3, 2, 1],
    [2.5, 2.5, 0],
  ] as const)('%p vs %p → %p', (l, r, expected) => {
    expect(compareNumbers(l, r)).toBe(expected);
    expect(compareNumbers(r, l)).toBe(-expected || 0);
  });

  it('takes its fast path (doubles) only where it agrees with Big, on random and near-equal values', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');
    const text = () => {
      const int = digits(1 + Math.floor(rnd() * 19)).replace(/^0+(?=.)/, '');
      const frac = rnd() < 0.6 ? `.${digits(1 + Math.floor(rnd() * 6))}` : '';
      return `${rnd() < 0.2 ? '-' : ''}${int}${frac}`;
    };
    const decimal = (v: unknown) => new Big(typeof v === 'number' ? String(v) : (v as string));
    const wrong: unknown[] = [];
    for (let i = 0; i < 20000; i++) {
      const a = text();
      const b = rnd() < 0.5 ? text() : a.slice(0, -1) + String((Number(a.at(-1)) + 1) % 10); // a near neighbour
      const na = Number(a);
      for (const [l, r] of [[a, b], [na, b], [a, Number(b)], [na, Number(b)], [a, na], [na, a]] as const) {
        if (compareNumbers(l, r) !== decimal(l).cmp(decimal(r))) wrong.push([l, r]);
      }
    }
    expect(wrong).toEqual([]);
  });

  it.each([null, undefined, '', 'abc', '1e3', '1E-2', '.5', '5.', ' 5', '+5', '0x1f', 'NaN', NaN, Infinity, -Infinity, true, [1], {}])(
    'is null for %p, on either side',
    (bad) => {
      expect(compareNumbers(bad, 1)).toBeNull();
      expect(compareNumbers(1, bad)).toBeNull();
      expect(compareNumbers('1', bad)).toBeNull();
    },
  );

  it('makes the number comparator false, ne included, when a side is no number', () => {
    for (const op of ['eq', 'ne', 'gt', 'gte', 'lt', 'lte'] as const) {
      const test = comparator({ kind: 'number' }, op);
      expect(test('1e3', 1000)).toBe(false);
      expect(test(null, 1)).toBe(false);
      expect(test(1, undefined)).toBe(false);
    }
    expect(comparator({ kind: 'number' }, 'gt')('5000.30', multiply('1000.06', 5))).toBe(false);
    expect(comparator({ kind: 'number' }, 'gt')('5000.31', multiply('1000.06', 5))).toBe(true);
  });
});

describe('multiply', () => {
  it('is exact for decimals and for integers beyond 2^53', () => {
    expect((multiply('1000.06', 5) as Big).toFixed()).toBe('5000.3');
    expect((multiply(0.1, 3) as Big).toFixed()).toBe('0.3');
    expect((multiply('999999999999999999.99', '100') as Big).toFixed()).toBe('99999999999999999999');
    expect(String(multiply(94906267, 94906267))).toBe('9007199515875289');
    expect(multiply(6, 7)).toBe(42); // safe integers stay JS numbers
  });

  it('is null when a factor is no number', () => {
    expect(multiply(null, 2)).toBeNull();
    expect(multiply('2', 'x')).toBeNull();
    expect(multiply('1e2', 2)).toBeNull();
  });
});

describe('decimal conversions', () => {
  it('reads JS numbers through their shortest text, exponent form included', () => {
    expect(toDecimal(0.1)!.toFixed()).toBe('0.1');
    expect(toDecimal(1e21)!.toFixed()).toBe('1000000000000000000000');
    expect(toDecimal(1.5e-7)!.toFixed()).toBe('0.00000015');
    expect(toDecimal('1e21')).toBeNull();
  });

  it('prepares literals once: safe integers as numbers, anything else as Big', () => {
    expect(prepareNumber(5)).toBe(5);
    expect(prepareNumber(0.5)).toBeInstanceOf(Big);
    expect(prepareNumber(1e21)).toBeInstanceOf(Big);
    expect(prepareNumber(null)).toBeNull();
  });

  it('gives equal decimals one key', () => {
    expect(decimalKey('20.50')).toBe('20.5');
    expect(decimalKey(20.5)).toBe('20.5');
    expect(decimalKey('0020.5')).toBe('20.5');
    expect(decimalKey(-0)).toBe('0');
    expect(decimalKey('-0.00')).toBe('0');
    expect(decimalKey(1e21)).toBe('1000000000000000000000');
    expect(decimalKey('1e21')).toBeNull();
    expect(decimalKey('999999999999999999.99')).not.toBe(decimalKey('999999999999999999.98'));
    expect([...memberSet([1, 2.5, 1e21], { kind: 'memberNumber' })]).toEqual(['1', '2.5', '1000000000000000000000']);
  });

  it('writes numeric parameters as decimal text, never in exponent form', () => {
    expect(toDecimalText('12345678901234567.89')).toBe('12345678901234567.89');
    expect(toDecimalText(1e21)).toBe('1000000000000000000000');
    expect(toDecimalText(1e-7)).toBe('0.0000001');
    expect(toDecimalText(multiply('1000.06', 5))).toBe('5000.3');
    expect(toDecimalText('1e3')).toBeNull();
    expect(toDecimalText(null)).toBeNull();
  });
});

describe('toText', () => {
  it('spells numbers as PostgreSQL renders a jsonb number with ->>, never with an exponent', () => {
    // What PostgreSQL returns for ('{"n": <literal>}'::jsonb)->>'n' with these literals.
    expect(toText(1e21)).toBe('1000000000000000000000');
    expect(toText(1e-7)).toBe('0.0000001');
    expect(toText(-0)).toBe('0');
    expect(toText(12.5)).toBe('12.5');
    expect(toText(-3)).toBe('-3');
    expect(toText(true)).toBe('true');
    expect(toText('1e21')).toBe('1e21');
    expect(toText(Number.NaN)).toBeNull();
    expect(toText(null)).toBeNull();
  });
});
