import { BadUserInputError } from '../../../../common/errors/app-error';
import { compileCondition, compileWhere } from './compile-condition';
import type { EvaluationContext } from './condition.types';
import { DEFAULT_RULE_CONDITIONS } from './default-rules';

const cmp = (left: unknown, op: string, right: unknown) => ({ compare: { left, op, right } });
const f = (field: string) => ({ field });
const v = (value: unknown) => ({ value });
const c = (customer: string) => ({ customer });

interface Fake {
  event?: Record<string, unknown>;
  customer?: Record<string, unknown>;
  aggregates?: Record<string, number | string | bigint | null>;
  lists?: Record<string, string[]>;
}
function ctx(fake: Fake = {}): EvaluationContext {
  return {
    event: fake.event ?? {},
    customer: fake.customer ?? {},
    aggregate: (key) => (fake.aggregates ?? {})[key],
    list: (code) => new Set(fake.lists?.[code] ?? []),
  } as EvaluationContext;
}
const run = (json: unknown, fake: Fake = {}) => compileCondition(json).evaluate(ctx(fake));

describe('compare: numbers', () => {
  const event = { amount: '100.50' }; // amounts arrive as decimal strings
  it.each([
    ['eq', 100.5, true],
    ['eq', 100, false],
    ['ne', 100, true],
    ['ne', 100.5, false],
    ['gt', 100, true],
    ['gt', 100.5, false],
    ['gte', 100.5, true],
    ['gte', 101, false],
    ['lt', 101, true],
    ['lt', 100.5, false],
    ['lte', 100.5, true],
    ['lte', 100, false],
  ])('amount 100.50 %s %d → %s', (op, n, expected) => {
    expect(run(cmp(f('amount'), op, v(n)), { event })).toBe(expected);
  });

  it('compares numeric attributes, including numeric strings, and two numbers from the customer', () => {
    expect(run(cmp(f('attributes.daysLate'), 'gte', v(30)), { event: { attributes: { daysLate: 31 } } })).toBe(true);
    expect(run(cmp(f('attributes.daysLate'), 'gte', v(30)), { event: { attributes: { daysLate: '31' } } })).toBe(true);
    expect(run(cmp(f('attributes.daysLate'), 'gte', v(30)), { event: { attributes: { daysLate: '31 days' } } })).toBe(false);
    expect(run(cmp(c('dailyLimit'), 'gt', c('transactionLimit')), { customer: { dailyLimit: '500', transactionLimit: 100 } })).toBe(true);
  });

  it('is false for every operator when a side is missing or null — ne included', () => {
    for (const op of ['eq', 'ne', 'gt', 'gte', 'lt', 'lte']) {
      expect(run(cmp(f('amount'), op, v(1)), { event: {} })).toBe(false);
      expect(run(cmp(f('amount'), op, c('transactionLimit')), { event: { amount: '5' }, customer: { transactionLimit: null } })).toBe(false);
    }
  });
});

describe('compare: numbers are exact decimals', () => {
  const spike = DEFAULT_RULE_CONDITIONS.find((r) => r.code === 'SPENDING_SPIKE')!.condition;
  const spikeFires = (amount: string, average: number | string) =>
    compileCondition(spike).evaluate({ event: { amount }, customer: {}, aggregate: () => average, list: () => new Set() } as EvaluationContext);

  it('SPENDING_SPIKE at its boundary: 5000.30 is not above 5 × 1000.06 (a double gives 5000.299999999999)', () => {
    expect(spikeFires('5000.30', 1000.06)).toBe(false);
    expect(spikeFires('5000.31', 1000.06)).toBe(true);
    // The average as PostgreSQL returns it: decimal text with all its digits.
    expect(spikeFires('5000.30', '1000.0600000000000000')).toBe(false);
    expect(spikeFires('5000.31', '1000.0600000000000000')).toBe(true);
    expect(spikeFires('5000.30', '1000.0599999999999999')).toBe(true);
  });

  it('tells apart 18-integer-digit amounts that differ by 0.01', () => {
    const limit = { transactionLimit: '999999999999999999.98' };
    const above = (amount: string, op = 'gt') => run(cmp(f('amount'), op, c('transactionLimit')), { event: { amount }, customer: limit });
    expect(above('999999999999999999.99')).toBe(true);
    expect(above('999999999999999999.98')).toBe(false);
    expect(above('999999999999999999.97')).toBe(false);
    expect(above('999999999999999999.99', 'eq')).toBe(false);
    expect(above('999999999999999999.99', 'ne')).toBe(true);
    expect(above('999999999999999999.980', 'eq')).toBe(true);
    // The reverse comparison.
    const amount = '999999999999999999.98';
    expect(run(cmp(f('amount'), 'gt', c('transactionLimit')), { event: { amount }, customer: { transactionLimit: '999999999999999999.99' } })).toBe(false);
    expect(run(cmp(f('amount'), 'lt', c('transactionLimit')), { event: { amount }, customer: { transactionLimit: '999999999999999999.99' } })).toBe(true);
  });

  it('multiplies decimals exactly', () => {
    const product = (x: unknown, y: unknown, op: string, z: unknown) =>
      run(cmp({ mul: [c('transactionLimit'), c('dailyLimit')] }, op, f('amount')), { customer: { transactionLimit: x, dailyLimit: y }, event: { amount: z } });
    expect(product('0.1', '3', 'eq', '0.3')).toBe(true); // 0.1 × 3 is 0.30000000000000004 in doubles
    expect(product(0.1, 3, 'eq', '0.30')).toBe(true);
    expect(product('1000.06', 5, 'eq', '5000.3')).toBe(true);
    expect(product('1.01', '1.01', 'eq', '1.0201')).toBe(true);
    expect(product('999999999999999999.99', '1', 'gt', '999999999999999999.98')).toBe(true);
    expect(product('99999999999.99', '100000000', 'eq', '9999999999999000000')).toBe(true);
    expect(product(94906267, 94906267, 'eq', '9007199515875289')).toBe(true); // beyond 2^53: a double gives …288
    // A literal factor, converted once at compile time, on either side.
    expect(run(cmp({ mul: [v(0.1), f('amount')] }, 'eq', v(0.3)), { event: { amount: '3' } })).toBe(true);
    expect(run(cmp(f('amount'), 'gt', { mul: [f('attributes.rate'), v(1.1)] }), { event: { amount: '1.21', attributes: { rate: 1.1 } } })).toBe(false);
  });

  it('never satisfies a comparison with a missing, null or ill-typed number — ne included', () => {
    const bad = [undefined, null, 'abc', '', ' 5', '5 ', '1e3', '1E3', '.5', '5.', '+5', '0x10', 'NaN', 'Infinity', NaN, Infinity, -Infinity, true, [5], { n: 5 }];
    for (const x of bad) {
      for (const op of ['eq', 'ne', 'gt', 'gte', 'lt', 'lte']) {
        expect({ x, op, v: run(cmp(f('attributes.x'), op, v(5)), { event: { attributes: { x } } }) }).toEqual({ x, op, v: false });
        expect({ x, op, v: run(cmp({ mul: [f('attributes.x'), v(2)] }, op, v(10)), { event: { attributes: { x } } }) }).toEqual({ x, op, v: false });
      }
      expect(run(cmp(f('attributes.x'), 'in', v([5])), { event: { attributes: { x } } })).toBe(false);
      expect(run(cmp(f('attributes.x'), 'notIn', v([5])), { event: { attributes: { x } } })).toBe(false);
      expect(run(cmp({ mul: [f('attributes.x'), v(2)] }, 'eq', v(null)), { event: { attributes: { x } } })).toBe(true);
    }
  });

  it('rejects decimal text in exponent form, but takes JS numbers that print in it (1e21, 1e-7)', () => {
    expect(run(cmp(f('amount'), 'gt', v(0)), { event: { amount: '1e3' } })).toBe(false);
    expect(run(cmp(f('attributes.x'), 'eq', v(1000)), { event: { attributes: { x: '1e3' } } })).toBe(false);
    expect(run(cmp(f('attributes.x'), 'eq', f('amount')), { event: { amount: '1000000000000000000000', attributes: { x: 1e21 } } })).toBe(true);
    expect(run(cmp(f('attributes.x'), 'lt', f('amount')), { event: { amount: '1000000000000000000000.01', attributes: { x: 1e21 } } })).toBe(true);
    expect(run(cmp(f('attributes.x'), 'eq', f('amount')), { event: { amount: '0.0000001', attributes: { x: 1e-7 } } })).toBe(true);
    expect(run(cmp(f('attributes.x'), 'gt', v(0)), { event: { attributes: { x: 1e-7 } } })).toBe(true);
    expect(run(cmp(f('amount'), 'lt', v(1e21)), { event: { amount: '999999999999999999999.99' } })).toBe(true);
    expect(run(cmp(f('amount'), 'in', v([1e21])), { event: { amount: '1000000000000000000000.00' } })).toBe(true);
  });

  it('accepts numbers, decimal text and bigints (counts from some drivers)', () => {
    const count = { aggregate: { fn: 'count', eventTypes: ['LOGIN'], window: 'PT15M' } };
    const compiled = compileCondition(cmp(count, 'gte', v(5)));
    const key = compiled.aggregates[0].key;
    for (const [n, expected] of [[5, true], ['5', true], [5n, true], [4, false], ['4', false], [4n, false], [9007199254740993n, true]] as const) {
      expect(compiled.evaluate(ctx({ aggregates: { [key]: n } }))).toBe(expected);
    }
    // A bigint beyond 2^53 keeps its last digit.
    const exact = compileCondition(cmp(count, 'gt', c('riskScore')));
    expect(exact.evaluate(ctx({ aggregates: { [exact.aggregates[0].key]: 9007199254740993n }, customer: { riskScore: '9007199254740992' } }))).toBe(true);
    expect(run(cmp(c('riskScore'), 'gt', v(0.5)), { customer: { riskScore: 0.75 } })).toBe(true);
    expect(run(cmp(c('riskScore'), 'eq', v(0)), { customer: { riskScore: -0 } })).toBe(true);
  });

  it('matches numbers in an array as exact decimals, however they are spelled', () => {
    expect(run(cmp(f('amount'), 'in', v([0.3])), { event: { amount: '0.30' } })).toBe(true);
    expect(run(cmp(f('amount'), 'in', v([0.3])), { event: { amount: '0.30000000000000001' } })).toBe(false);
    expect(run(cmp(f('amount'), 'notIn', v([0.3])), { event: { amount: '0.30000000000000001' } })).toBe(true);
    expect(run(cmp(f('amount'), 'in', v([100])), { event: { amount: '100.00' } })).toBe(true);
    expect(run(cmp(f('attributes.code'), 'in', v([0])), { event: { attributes: { code: -0 } } })).toBe(true);
    expect(run(cmp(f('amount'), 'in', v([9007199254740992])), { event: { amount: '9007199254740993' } })).toBe(false);
  });
});

describe('compare: text, booleans and null tests', () => {
  it('compares text exactly', () => {
    expect(run(cmp(f('channel'), 'eq', v('WEB')), { event: { channel: 'WEB' } })).toBe(true);
    expect(run(cmp(f('channel'), 'eq', v('WEB')), { event: { channel: 'web' } })).toBe(false);
    expect(run(cmp(f('channel'), 'ne', v('WEB')), { event: { channel: 'APP' } })).toBe(true);
    expect(run(cmp(f('channel'), 'ne', v('WEB')), { event: {} })).toBe(false);
    expect(run(cmp(c('status'), 'eq', v('RESTRICTED')), { customer: { status: 'RESTRICTED' } })).toBe(true);
  });

  it('compares attributes as text against text, and as booleans against booleans', () => {
    expect(run(cmp(f('attributes.outcome'), 'eq', v('FAILURE')), { event: { attributes: { outcome: 'FAILURE' } } })).toBe(true);
    expect(run(cmp(f('attributes.code'), 'eq', v('7')), { event: { attributes: { code: 7 } } })).toBe(true);
    expect(run(cmp(f('attributes.vip'), 'eq', v(true)), { event: { attributes: { vip: true } } })).toBe(true);
    expect(run(cmp(f('attributes.vip'), 'eq', v(true)), { event: { attributes: { vip: 'true' } } })).toBe(false);
    expect(run(cmp(f('attributes.vip'), 'ne', v(true)), { event: { attributes: { vip: false } } })).toBe(true);
    expect(run(cmp(f('attributes.list'), 'eq', v('a')), { event: { attributes: { list: ['a'] } } })).toBe(false);
  });

  it('does not read inherited properties of attributes', () => {
    expect(run(cmp(f('attributes.constructor'), 'ne', v(null)), { event: { attributes: {} } })).toBe(false);
  });

  it('tests for null with eq null and ne null only', () => {
    const limitIsNull = cmp(c('transactionLimit'), 'eq', v(null));
    expect(run(limitIsNull, { customer: { transactionLimit: null } })).toBe(true);
    expect(run(limitIsNull, { customer: {} })).toBe(true);
    expect(run(limitIsNull, { customer: { transactionLimit: 0 } })).toBe(false);
    expect(run(cmp(v(null), 'ne', f('deviceId')), { event: { deviceId: 'd1' } })).toBe(true);
    expect(run(cmp(f('attributes.x'), 'eq', v(null)), { event: { attributes: { x: null } } })).toBe(true);
  });
});

describe('compare: levels are ordered', () => {
  it.each([
    ['riskLevel', 'HIGH', 'gte', 'HIGH', true],
    ['riskLevel', 'CRITICAL', 'gt', 'HIGH', true],
    ['riskLevel', 'MEDIUM', 'gt', 'HIGH', false],
    ['riskLevel', 'LOW', 'lt', 'MEDIUM', true],
    ['creditLevel', 'CRITICAL', 'lte', 'LOW', false],
    ['verificationLevel', 'BASIC', 'lt', 'VERIFIED', true],
    ['verificationLevel', 'ENHANCED', 'gt', 'VERIFIED', true],
    ['verificationLevel', 'NONE', 'gte', 'BASIC', false],
    ['riskLevel', 'HIGH', 'eq', 'HIGH', true],
    ['riskLevel', 'HIGH', 'ne', 'LOW', true],
  ])('%s %s %s %s → %s', (attr, actual, op, literal, expected) => {
    expect(run(cmp(c(attr), op, v(literal)), { customer: { [attr]: actual } })).toBe(expected);
  });

  it('never orders an unknown or missing level', () => {
    expect(run(cmp(c('riskLevel'), 'lt', v('CRITICAL')), { customer: { riskLevel: 'BOGUS' } })).toBe(false);
    expect(run(cmp(c('riskLevel'), 'lt', v('CRITICAL')), { customer: { riskLevel: null } })).toBe(false);
  });

  it('orders a level literal on the left too', () => {
    expect(run(cmp(v('MEDIUM'), 'lt', c('riskLevel')), { customer: { riskLevel: 'HIGH' } })).toBe(true);
  });
});

describe('compare: in and notIn', () => {
  const lists = { SANCTIONED: ['ACME', 'EVIL'] };
  it('matches against a watchlist', () => {
    const inList = cmp(f('counterpartyRef'), 'in', { list: 'SANCTIONED' });
    expect(run(inList, { event: { counterpartyRef: 'EVIL' }, lists })).toBe(true);
    expect(run(inList, { event: { counterpartyRef: 'evil' }, lists })).toBe(false);
    expect(run(inList, { event: { counterpartyRef: 'EVIL' }, lists: {} })).toBe(false);
    expect(run(cmp(f('counterpartyRef'), 'notIn', { list: 'SANCTIONED' }), { event: { counterpartyRef: 'OK' }, lists })).toBe(true);
  });

  it('matches against array values, as text or as numbers', () => {
    expect(run(cmp(f('country'), 'in', v(['NL', 'BE'])), { event: { country: 'BE' } })).toBe(true);
    expect(run(cmp(f('country'), 'notIn', v(['NL', 'BE'])), { event: { country: 'DE' } })).toBe(true);
    expect(run(cmp(f('country'), 'notIn', v(['NL', 'BE'])), { event: { country: 'NL' } })).toBe(false);
    expect(run(cmp(f('amount'), 'in', v([10, 20.5])), { event: { amount: '20.50' } })).toBe(true);
    expect(run(cmp(f('attributes.code'), 'in', v([1, 2])), { event: { attributes: { code: '2' } } })).toBe(true);
    expect(run(cmp(c('riskLevel'), 'in', v(['HIGH', 'CRITICAL'])), { customer: { riskLevel: 'HIGH' } })).toBe(true);
    expect(run(cmp(f('country'), 'in', v([])), { event: { country: 'NL' } })).toBe(false);
    expect(run(cmp(f('country'), 'notIn', v([])), { event: { country: 'NL' } })).toBe(true);
  });

  it('is false for a missing value, notIn included', () => {
    expect(run(cmp(f('country'), 'in', v(['NL'])), { event: {} })).toBe(false);
    expect(run(cmp(f('country'), 'notIn', v(['NL'])), { event: {} })).toBe(false);
    expect(run(cmp(f('counterpartyRef'), 'notIn', { list: 'SANCTIONED' }), { event: {}, lists })).toBe(false);
  });

  it('asks whether any flag is in the set', () => {
    expect(run(cmp(f('flags'), 'in', v(['THREAT', 'FRAUD'])), { event: { flags: ['SPAM', 'FRAUD'] } })).toBe(true);
    expect(run(cmp(f('flags'), 'in', v(['THREAT', 'FRAUD'])), { event: { flags: [] } })).toBe(false);
    expect(run(cmp(f('flags'), 'notIn', v(['THREAT'])), { event: { flags: ['SPAM'] } })).toBe(true);
    expect(run(cmp(f('flags'), 'notIn', v(['THREAT'])), { event: {} })).toBe(false);
  });
});

describe('compare: contains', () => {
  it('finds text case-insensitively', () => {
    expect(run(cmp(f('counterpartyRef'), 'contains', v('acme')), { event: { counterpartyRef: 'NL-ACME-01' } })).toBe(true);
    expect(run(cmp(f('counterpartyRef'), 'contains', v('zeta')), { event: { counterpartyRef: 'NL-ACME-01' } })).toBe(false);
    expect(run(cmp(f('counterpartyRef'), 'contains', v('x')), { event: {} })).toBe(false);
  });

  it('finds a member of flags exactly', () => {
    expect(run(cmp(f('flags'), 'contains', v('THREAT')), { event: { flags: ['THREAT'] } })).toBe(true);
    expect(run(cmp(f('flags'), 'contains', v('THREAT')), { event: { flags: ['FRAUD'] } })).toBe(false);
    expect(run(cmp(f('flags'), 'contains', v('THREAT')), { event: { flags: null } })).toBe(false);
  });

  it('on an attribute: membership for arrays, substring for text, false otherwise', () => {
    const fields = cmp(f('attributes.fields'), 'contains', v('email'));
    expect(run(fields, { event: { attributes: { fields: ['phone', 'email'] } } })).toBe(true);
    expect(run(fields, { event: { attributes: { fields: ['phone'] } } })).toBe(false);
    expect(run(fields, { event: { attributes: { fields: 'Changed EMAIL and phone' } } })).toBe(true);
    expect(run(fields, { event: { attributes: { fields: 12 } } })).toBe(false);
  });
});

describe('mul', () => {
  const half = cmp(f('amount'), 'gt', { mul: [c('transactionLimit'), v(0.5)] });
  it('multiplies numbers, numeric strings included', () => {
    expect(run(half, { event: { amount: '501' }, customer: { transactionLimit: '1000.00' } })).toBe(true);
    expect(run(half, { event: { amount: '500' }, customer: { transactionLimit: 1000 } })).toBe(false);
  });
  it('is null when a factor is null, so the comparison is false', () => {
    expect(run(half, { event: { amount: '1000000000' }, customer: { transactionLimit: null } })).toBe(false);
    expect(run(cmp({ mul: [c('transactionLimit'), v(2)] }, 'eq', v(null)), { customer: {} })).toBe(true);
  });
});

describe('all, any, not', () => {
  const t = cmp(v(1), 'eq', v(1));
  const no = cmp(v(1), 'eq', v(2));
  it.each([
    [{ all: [t, t] }, true],
    [{ all: [t, no] }, false],
    [{ any: [no, t] }, true],
    [{ any: [no, no] }, false],
    [{ not: no }, true],
    [{ not: { all: [t, { not: t }] } }, true],
  ])('%j → %s', (json, expected) => {
    expect(run(json)).toBe(expected);
  });

  it('short-circuits: later aggregates are not read once the answer is known', () => {
    const aggregate = jest.fn(() => 1);
    const compiled = compileCondition({ all: [no, cmp({ aggregate: { fn: 'count', eventTypes: ['LOGIN'], window: 'PT1H' } }, 'gt', v(0))] });
    expect(compiled.evaluate({ ...ctx(), aggregate })).toBe(false);
    expect(aggregate).not.toHaveBeenCalled();
  });
});

describe('aggregates', () => {
  const failed = cmp(f('attributes.outcome'), 'eq', v('FAILURE'));
  const count = { aggregate: { fn: 'count', eventTypes: ['LOGIN'], window: 'PT15M', where: failed } };

  it('are listed once with a stable key and read through ctx.aggregate', () => {
    const compiled = compileCondition({ all: [cmp(count, 'gte', v(5)), { not: cmp(count, 'gt', v(100)) }] });
    expect(compiled.aggregates).toHaveLength(1);
    const [spec] = compiled.aggregates;
    expect(spec).toMatchObject({ fn: 'count', eventTypes: ['LOGIN'], windowMs: 900_000, offsetMs: 0, where: failed });
    expect(JSON.parse(spec.key)).toEqual({ eventTypes: ['LOGIN'], fn: 'count', offsetMs: 0, where: failed, windowMs: 900_000 });
    expect(compiled.evaluate(ctx({ aggregates: { [spec.key]: 5 } }))).toBe(true);
    expect(compiled.evaluate(ctx({ aggregates: { [spec.key]: 4 } }))).toBe(false);
    expect(compiled.evaluate(ctx({ aggregates: { [spec.key]: null } }))).toBe(false);
    expect(compiled.eventTypesReferenced).toEqual(['LOGIN']);
  });

  it('share a key across spellings: key order, event type order, PT60M = PT1H', () => {
    const a = compileCondition(cmp({ aggregate: { fn: 'sum', field: 'amount', eventTypes: ['PAYMENT', 'TRANSACTION'], window: 'PT60M' } }, 'gt', v(1)));
    const b = compileCondition(cmp({ aggregate: { window: 'PT1H', eventTypes: ['TRANSACTION', 'PAYMENT'], field: 'amount', fn: 'sum' } }, 'gt', v(1)));
    expect(a.aggregates[0].key).toBe(b.aggregates[0].key);
    expect(a.aggregates[0].eventTypes).toEqual(['TRANSACTION', 'PAYMENT']);
    const offset = compileCondition(cmp({ aggregate: { fn: 'sum', field: 'amount', eventTypes: ['PAYMENT'], window: 'PT1H', offset: 'PT1H' } }, 'gt', v(1)));
    expect(offset.aggregates[0].key).not.toBe(a.aggregates[0].key);
  });

  it('fails loudly when the caller did not compute an aggregate', () => {
    expect(() => run(cmp(count, 'gte', v(5)))).toThrow('aggregate not computed');
  });

  it('reports the lists and customer attributes a condition reads, where included', () => {
    const compiled = compileCondition({
      all: [
        cmp(c('riskLevel'), 'gte', v('HIGH')),
        cmp(f('counterpartyRef'), 'in', { list: 'A' }),
        cmp({ aggregate: { fn: 'count', eventTypes: ['PAYMENT'], window: 'P1D', where: cmp(f('counterpartyRef'), 'in', { list: 'B' }) } }, 'gt', { mul: [c('riskScore'), v(1)] }),
      ],
    });
    expect(compiled.lists).toEqual(['A', 'B']);
    expect(compiled.customerAttributes).toEqual(['riskLevel', 'riskScore']);
  });
});

describe('compileWhere: current refers to the event under evaluation', () => {
  const sameDevice = compileWhere(cmp(f('deviceId'), 'eq', { current: 'deviceId' }) as never);
  const none = () => new Set<string>();
  it('compares a past event with the current one', () => {
    expect(sameDevice({ deviceId: 'd1' }, { deviceId: 'd1' }, none)).toBe(true);
    expect(sameDevice({ deviceId: 'd2' }, { deviceId: 'd1' }, none)).toBe(false);
    expect(sameDevice({ deviceId: null }, { deviceId: null }, none)).toBe(false);
  });
  it('reads lists and attributes of the current event', () => {
    const where = compileWhere({ all: [cmp(f('counterpartyRef'), 'in', { list: 'L' }), cmp(f('amount'), 'gt', { mul: [{ current: 'amount' }, v(2)] })] } as never);
    const list = () => new Set(['X']);
    expect(where({ counterpartyRef: 'X', amount: '21' }, { amount: '10' }, list)).toBe(true);
    expect(where({ counterpartyRef: 'X', amount: '20' }, { amount: '10' }, list)).toBe(false);
    expect(where({ counterpartyRef: 'Y', amount: '99' }, { amount: '10' }, list)).toBe(false);
  });
});

describe('compileCondition refuses invalid input', () => {
  it('throws BAD_USER_INPUT with the paths', () => {
    expect(() => compileCondition({ all: [] })).toThrow(BadUserInputError);
    expect(() => compileCondition(cmp(f('deviceId'), 'eq', { current: 'deviceId' }))).toThrow(/condition.compare.right/);
  });
});
