import { BadUserInputError } from '../../../../common/errors/app-error';
import { assertValidCondition, validateCondition } from './validate-condition';
import { LIMITS } from './vocabulary';

const cmp = (left: unknown, op: unknown, right: unknown) => ({ compare: { left, op, right } });
const amount = { field: 'amount' };
const agg = (a: Record<string, unknown>) => ({ aggregate: { fn: 'count', eventTypes: ['LOGIN'], window: 'PT1H', ...a } });
const inAgg = (where: unknown) => cmp(agg({ where }), 'gte', { value: 1 });

/** The single error's path and a fragment of its message. */
function only(json: unknown): { path: string; message: string } {
  const errors = validateCondition(json);
  expect(errors).toHaveLength(1);
  return errors[0];
}

describe('validateCondition: valid conditions', () => {
  it.each([
    ['a compare', cmp(amount, 'gt', { value: 10 })],
    ['all/any/not', { all: [{ any: [cmp(amount, 'gt', { value: 1 })] }, { not: cmp({ field: 'channel' }, 'eq', { value: 'WEB' }) }] }],
    ['an attribute', cmp({ field: 'attributes.outcome' }, 'eq', { value: 'FAILURE' })],
    ['a level order', cmp({ customer: 'riskLevel' }, 'gte', { value: 'HIGH' })],
    ['a status', cmp({ customer: 'status' }, 'eq', { value: 'RESTRICTED' })],
    ['a list', cmp({ field: 'counterpartyRef' }, 'notIn', { list: 'SANCTIONED_COUNTERPARTIES' })],
    ['an array', cmp({ field: 'country' }, 'in', { value: ['NL', 'BE'] })],
    ['a number array', cmp(amount, 'in', { value: [1, 2.5] })],
    ['flags contains', cmp({ field: 'flags' }, 'contains', { value: 'THREAT' })],
    ['mul', cmp(amount, 'gt', { mul: [{ customer: 'transactionLimit' }, { value: 0.5 }] })],
    ['null test', cmp({ customer: 'transactionLimit' }, 'eq', { value: null })],
    ['current in where', inAgg(cmp({ field: 'deviceId' }, 'eq', { current: 'deviceId' }))],
    ['list in where', inAgg(cmp({ field: 'counterpartyRef' }, 'in', { list: 'X' }))],
    ['customer attributes in where', inAgg({ all: [cmp(amount, 'gt', { customer: 'transactionLimit' }), cmp({ field: 'attributes.tier' }, 'gte', { customer: 'riskLevel' })] })],
    ['sum of an attribute', cmp(agg({ fn: 'sum', field: 'attributes.daysLate' }), 'gt', { value: 3 })],
    ['sum, avg and max without a field (the amount)', { all: ['sum', 'avg', 'max'].map((fn) => cmp(agg({ fn }), 'gt', { value: 3 })) }],
    ['distinctCount', cmp(agg({ fn: 'distinctCount', field: 'country' }), 'gt', { value: 3 })],
    ['count of a field', cmp(agg({ field: 'counterpartyRef' }), 'gte', { value: 3 })],
    ['count of an attribute', cmp(agg({ field: 'attributes.daysLate' }), 'gte', { value: 2 })],
    ['offset', cmp(agg({ window: 'P7D', offset: 'P1D' }), 'gt', { value: 3 })],
    ['window of 90 days', cmp(agg({ window: 'P90D' }), 'gt', { value: 3 })],
  ])('accepts %s', (_name, json) => {
    expect(validateCondition(json)).toEqual([]);
  });
});

describe('validateCondition: errors name the bad node', () => {
  it.each<[string, unknown, string, string]>([
    ['a non-object', 'amount > 5', 'condition', 'exactly one of all, any, not, compare'],
    ['an empty object', {}, 'condition', 'exactly one of all, any, not, compare'],
    ['two keys', { all: [], any: [] }, 'condition', 'found all, any'],
    ['an unknown key', { every: [] }, 'condition.every', 'not a known key'],
    ['an empty all', { all: [] }, 'condition.all', 'non-empty array'],
    ['an any that is not an array', { any: {} }, 'condition.any', 'non-empty array'],
    ['a bad op', { all: [cmp(amount, 'greater', { value: 1 })] }, 'condition.all.0.compare.op', 'must be one of eq, ne, gt'],
    ['a missing op', { compare: { left: amount, right: { value: 1 } } }, 'condition.compare.op', 'is required'],
    ['a missing right', { compare: { left: amount, op: 'eq' } }, 'condition.compare.right', 'is required'],
    ['an extra compare key', { compare: { left: amount, op: 'eq', right: { value: 1 }, note: 'x' } }, 'condition.compare.note', 'not allowed'],
    ['an operand with two keys', cmp({ field: 'amount', value: 1 }, 'eq', { value: 1 }), 'condition.compare.left', 'exactly one of value, field'],
    ['an unknown operand', cmp({ column: 'amount' }, 'eq', { value: 1 }), 'condition.compare.left.column', 'not a known key'],
    ['an unknown field', cmp({ field: 'balance' }, 'eq', { value: 1 }), 'condition.compare.left.field', 'attributes.<key>'],
    ['a bad attribute key', cmp({ field: 'attributes.a-b' }, 'eq', { value: 1 }), 'condition.compare.left.field', '1–64 letters'],
    ['an empty attribute key', cmp({ field: 'attributes.' }, 'eq', { value: 1 }), 'condition.compare.left.field', '1–64 letters'],
    ['a long attribute key', cmp({ field: `attributes.${'a'.repeat(65)}` }, 'eq', { value: 1 }), 'condition.compare.left.field', '1–64'],
    ['an unknown customer attribute', cmp({ customer: 'income' }, 'gt', { value: 1 }), 'condition.compare.left.customer', 'riskLevel'],
    ['an object literal', cmp(amount, 'eq', { value: { a: 1 } }), 'condition.compare.right.value', 'string, a finite number'],
    ['a nested array literal', cmp({ field: 'country' }, 'in', { value: ['NL', ['BE']] }), 'condition.compare.right.value.1', 'string, a finite'],
    ['current outside where', cmp({ field: 'deviceId' }, 'eq', { current: 'deviceId' }), 'condition.compare.right', 'only allowed inside'],
    ['a bad current field', inAgg(cmp({ field: 'deviceId' }, 'eq', { current: 'device' })), 'condition.compare.left.aggregate.where.compare.right.current', 'attributes.<key>'],
    ['the last activity inside where', inAgg(cmp(amount, 'gt', { customer: 'daysSinceLastActivity' })), 'condition.compare.left.aggregate.where.compare.right.customer', 'computed with the aggregates'],
    ['an unknown customer attribute inside where', inAgg(cmp(amount, 'gt', { customer: 'income' })), 'condition.compare.left.aggregate.where.compare.right.customer', 'riskLevel'],
    ['a nested aggregate', inAgg(cmp(agg({}), 'gt', { value: 1 })), 'condition.compare.left.aggregate.where.compare.left', 'cannot be nested'],
    ['a list on the left', cmp({ list: 'X' }, 'in', { value: ['a'] }), 'condition.compare.left', 'right operand of in or notIn'],
    ['a list with eq', cmp({ field: 'counterpartyRef' }, 'eq', { list: 'X' }), 'condition.compare.right', 'right operand of in or notIn'],
    ['a list in mul', cmp(amount, 'gt', { mul: [{ list: 'X' }, { value: 2 }] }), 'condition.compare.right.mul.0', 'right operand of in or notIn'],
    ['a bad list code', cmp({ field: 'counterpartyRef' }, 'in', { list: 'a b' }), 'condition.compare.right.list', 'watchlist code'],
    ['in with a scalar', cmp({ field: 'country' }, 'in', { value: 'NL' }), 'condition.compare.right', 'list operand or an array'],
    ['in with a mixed array', cmp({ field: 'country' }, 'in', { value: ['NL', 1] }), 'condition.compare.right.value', 'strings or of numbers'],
    ['in with nulls', cmp({ field: 'country' }, 'in', { value: ['NL', null] }), 'condition.compare.right.value', 'strings or of numbers'],
    ['numbers against text', cmp({ field: 'country' }, 'in', { value: [1, 2] }), 'condition.compare.right.value', 'must hold strings'],
    ['text against a number', cmp(amount, 'in', { value: ['1'] }), 'condition.compare.right', 'must hold numbers'],
    ['a number against a list', cmp(amount, 'in', { list: 'X' }), 'condition.compare.right', 'must hold numbers'],
    ['a bad level in in', cmp({ customer: 'riskLevel' }, 'in', { value: ['HIGH', 'SEVERE'] }), 'condition.compare.right.value.1', 'LOW, MEDIUM, HIGH, CRITICAL'],
    ['gt on text', cmp({ field: 'currency' }, 'gt', { value: 5 }), 'condition.compare.left', 'compares numbers or levels'],
    ['gt with a string literal', cmp(amount, 'gt', { value: '5' }), 'condition.compare.right.value', 'compares numbers or levels'],
    ['gt with null', cmp(amount, 'gt', { value: null }), 'condition.compare.right.value', 'compares numbers or levels'],
    ['eq of a number and text', cmp(amount, 'eq', { value: 'x' }), 'condition.compare.right.value', 'must be a number'],
    ['eq of text and a boolean', cmp({ field: 'channel' }, 'eq', { value: true }), 'condition.compare.right.value', 'must be text'],
    ['eq on arrays', cmp({ field: 'flags' }, 'eq', { value: 'THREAT' }), 'condition.compare.left', 'use in, notIn or contains'],
    ['an unknown level', cmp({ customer: 'riskLevel' }, 'gte', { value: 'SEVERE' }), 'condition.compare.right.value', 'LOW, MEDIUM, HIGH, CRITICAL'],
    ['a level against a number', cmp({ customer: 'verificationLevel' }, 'gt', { value: 2 }), 'condition.compare.right.value', 'NONE, BASIC, VERIFIED, ENHANCED'],
    ['levels of two scales', cmp({ customer: 'riskLevel' }, 'gt', { customer: 'verificationLevel' }), 'condition.compare.right', 'different scale'],
    ['an unknown status', cmp({ customer: 'status' }, 'eq', { value: 'OPEN' }), 'condition.compare.right.value', 'ACTIVE, RESTRICTED'],
    ['contains on a number', cmp(amount, 'contains', { value: '1' }), 'condition.compare.left', 'contains needs text, flags'],
    ['contains a number', cmp({ field: 'flags' }, 'contains', { value: 1 }), 'condition.compare.right.value', 'contains needs text on the right'],
    ['contains on an array literal', cmp({ value: ['a'] }, 'contains', { field: 'channel' }), 'condition.compare.left.value', 'use in'],
    ['mul of text', cmp(amount, 'gt', { mul: [{ field: 'channel' }, { value: 2 }] }), 'condition.compare.right.mul.0', 'multiplies numbers'],
    ['mul of one operand', cmp(amount, 'gt', { mul: [{ value: 2 }] }), 'condition.compare.right.mul', 'exactly two operands'],
    ['an unknown aggregate key', cmp(agg({ every: 'x' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.every', 'not allowed'],
    ['a bad fn', cmp(agg({ fn: 'median' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.fn', 'count, sum, avg, max, distinctCount'],
    ['count of flags', cmp(agg({ field: 'flags' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.field', 'not flags'],
    ['count of an unknown field', cmp(agg({ field: 'balance' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.field', 'attributes.<key>'],
    ['avg of text', cmp(agg({ fn: 'avg', field: 'country' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.field', 'numeric field'],
    ['max of flags', cmp(agg({ fn: 'max', field: 'flags' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.field', 'numeric field'],
    ['distinctCount without a field', cmp(agg({ fn: 'distinctCount' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.field', 'is required'],
    ['distinctCount of flags', cmp(agg({ fn: 'distinctCount', field: 'flags' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.field', 'not flags'],
    ['no event types', cmp(agg({ eventTypes: [] }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.eventTypes', 'non-empty'],
    ['an unknown event type', cmp(agg({ eventTypes: ['LOGIN', 'TRADE'] }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.eventTypes.1', 'TRANSACTION'],
    ['a repeated event type', cmp(agg({ eventTypes: ['LOGIN', 'LOGIN'] }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.eventTypes.1', 'twice'],
    ['a missing window', cmp(agg({ window: undefined }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.window', 'is required'],
    ['a malformed window', cmp(agg({ window: '15 minutes' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.window', 'ISO-8601'],
    ['a window in months', cmp(agg({ window: 'P1M' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.window', 'months are not allowed'],
    ['a zero window', cmp(agg({ window: 'PT0S' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.window', 'longer than zero'],
    ['a window over 90 days', cmp(agg({ window: 'P91D' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.window', 'at most P90D'],
    ['a malformed offset', cmp(agg({ offset: 'yesterday' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.offset', 'ISO-8601'],
    ['window plus offset over 90 days', cmp(agg({ window: 'P89D', offset: 'P2D' }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.offset', 'at most P90D'],
    ['a bad where', cmp(agg({ where: { all: [] } }), 'gt', { value: 1 }), 'condition.compare.left.aggregate.where.all', 'non-empty'],
  ])('reports %s', (_name, json, path, fragment) => {
    const e = only(json);
    expect(e.path).toBe(path);
    expect(e.message).toContain(fragment);
  });

  it('uses the given root path', () => {
    expect(validateCondition({ all: [cmp(amount, 'greater', { value: 1 })] }, 'input.condition')).toEqual([
      { path: 'input.condition.all.0.compare.op', message: expect.stringContaining('must be one of') },
    ]);
  });

  it('reports every error, not just the first', () => {
    const errors = validateCondition({
      any: [cmp({ field: 'balance' }, 'eq', { value: 1 }), cmp(amount, 'like', { value: 1 }), { nope: 1 }],
    });
    expect(errors.map((e) => e.path)).toEqual([
      'condition.any.0.compare.left.field',
      'condition.any.1.compare.op',
      'condition.any.2.nope',
    ]);
  });
});

describe('validateCondition: size limits', () => {
  const leaf = cmp(amount, 'gt', { value: 1 });

  it('accepts nesting up to the depth limit and refuses one level more', () => {
    // n nested `not` around a compare whose operands sit one level deeper: depth n + 2.
    const nest = (n: number) => Array.from({ length: n }).reduce<unknown>((c) => ({ not: c }), leaf);
    expect(validateCondition(nest(LIMITS.maxDepth - 2))).toEqual([]);
    const errors = validateCondition(nest(LIMITS.maxDepth - 1));
    expect(errors).toEqual([
      { path: `condition${'.not'.repeat(LIMITS.maxDepth - 1)}.compare.left`, message: expect.stringContaining('nested too deeply') },
      { path: `condition${'.not'.repeat(LIMITS.maxDepth - 1)}.compare.right`, message: expect.stringContaining('nested too deeply') },
    ]);
  });

  it('stops at a hostile depth without overflowing the stack', () => {
    let deep: unknown = leaf;
    for (let i = 0; i < 100_000; i++) deep = { not: deep };
    const errors = validateCondition(deep);
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toContain('nested too deeply');
  });

  it('refuses more nodes than the limit, once, at the root', () => {
    const perLeaf = 3; // compare + two operands
    const fits = Math.floor((LIMITS.maxNodes - 1) / perLeaf);
    expect(validateCondition({ any: Array.from({ length: fits }, () => leaf) })).toEqual([]);
    expect(validateCondition({ any: Array.from({ length: fits + 1 }, () => leaf) })).toEqual([
      { path: 'condition', message: `has more than ${LIMITS.maxNodes} conditions and operands` },
    ]);
  });

  it('bounds literals', () => {
    expect(only(cmp({ field: 'channel' }, 'eq', { value: 'x'.repeat(LIMITS.maxStringLength + 1) })).path).toBe('condition.compare.right.value');
    expect(only(cmp({ field: 'channel' }, 'in', { value: Array(LIMITS.maxArrayItems + 1).fill('x') })).path).toBe('condition.compare.right.value');
    expect(only(cmp(amount, 'gt', { value: Infinity })).path).toBe('condition.compare.right.value');
  });
});

describe('assertValidCondition', () => {
  it('throws BAD_USER_INPUT with every field error', () => {
    let thrown: unknown;
    try {
      assertValidCondition({ all: [cmp({ field: 'x' }, 'eq', { value: 1 }), cmp(amount, 'nope', { value: 1 })] }, 'input.condition');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(BadUserInputError);
    const err = thrown as BadUserInputError;
    expect(err.extensions.code).toBe('BAD_USER_INPUT');
    expect(err.message).toContain('input.condition.all.0.compare.left.field');
    expect((err.extensions.fieldErrors as { path: string }[]).map((f) => f.path)).toEqual([
      'input.condition.all.0.compare.left.field',
      'input.condition.all.1.compare.op',
    ]);
  });

  it('returns quietly for a valid condition', () => {
    expect(() => assertValidCondition(cmp(amount, 'gt', { value: 1 }))).not.toThrow();
  });
});
