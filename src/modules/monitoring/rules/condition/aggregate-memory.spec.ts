import { computeAggregateInMemory } from './aggregate-memory';
import { compileCondition } from './compile-condition';
import type { AggregateSpec } from './condition.types';

const NOW = Date.parse('2025-03-01T12:00:00.000Z');
const at = (msAgo: number) => new Date(NOW - msAgo).toISOString();
const spec = (aggregate: Record<string, unknown>): AggregateSpec =>
  compileCondition({ compare: { left: { aggregate: { eventTypes: ['TRANSACTION'], window: 'PT1H', ...aggregate } }, op: 'gt', right: { value: 0 } } })
    .aggregates[0];
const none = () => new Set<string>();
const current = { type: 'TRANSACTION', occurredAt: at(0), deviceId: 'd1' };

describe('computeAggregateInMemory', () => {
  it('over no events: count and sum are 0, avg and max are null, distinctCount is 0', () => {
    expect(computeAggregateInMemory(spec({ fn: 'count' }), [], current, none)).toBe(0);
    expect(computeAggregateInMemory(spec({ fn: 'sum', field: 'amount' }), [], current, none)).toBe('0');
    expect(computeAggregateInMemory(spec({ fn: 'avg', field: 'amount' }), [], current, none)).toBeNull();
    expect(computeAggregateInMemory(spec({ fn: 'max', field: 'amount' }), [], current, none)).toBeNull();
    expect(computeAggregateInMemory(spec({ fn: 'distinctCount', field: 'deviceId' }), [], current, none)).toBe(0);
  });

  const rows = [
    { type: 'TRANSACTION', occurredAt: at(0), amount: '10.00', deviceId: 'd1' },
    { type: 'TRANSACTION', occurredAt: at(1000), amount: '30', deviceId: 'd2' },
    { type: 'TRANSACTION', occurredAt: at(3_600_000 - 1), amount: null, deviceId: 'd1' },
    { type: 'TRANSACTION', occurredAt: at(3_600_000), amount: '1000', deviceId: 'd3' }, // on the open edge: out
    { type: 'TRANSACTION', occurredAt: at(-1), amount: '1000', deviceId: 'd4' }, // after the current event: out
    { type: 'LOGIN', occurredAt: at(5), amount: '1000', deviceId: 'd5' }, // other type: out
  ];

  it.each([
    [{ fn: 'count' }, 3],
    [{ fn: 'sum', field: 'amount' }, '40'],
    [{ fn: 'avg', field: 'amount' }, '20'],
    [{ fn: 'max', field: 'amount' }, '30'],
    [{ fn: 'distinctCount', field: 'deviceId' }, 2],
    [{ fn: 'distinctCount', field: 'amount' }, 2],
    [{ fn: 'count', where: { compare: { left: { field: 'deviceId' }, op: 'eq', right: { current: 'deviceId' } } } }, 2],
    [{ fn: 'count', window: 'PT30M', offset: 'PT30M' }, 1],
    // count of a field: the window's events where it holds a value (one of the three has no amount)
    [{ fn: 'count', field: 'amount' }, 2],
    [{ fn: 'count', field: 'deviceId' }, 3],
    [{ fn: 'count', field: 'amount', where: { compare: { left: { field: 'deviceId' }, op: 'eq', right: { current: 'deviceId' } } } }, 1],
  ])('%j → %p over (occurredAt − window, occurredAt]', (aggregate, expected) => {
    expect(computeAggregateInMemory(spec(aggregate), rows, current, none)).toBe(expected);
  });

  it('count of an attribute skips events without it and those where it is JSON null', () => {
    const logins = [{ daysLate: 3 }, { daysLate: null }, {}, { daysLate: 0 }, { daysLate: 'x' }].map((attributes, i) => ({
      type: 'TRANSACTION',
      occurredAt: at(i),
      attributes,
    }));
    expect(computeAggregateInMemory(spec({ fn: 'count', field: 'attributes.daysLate' }), logins, current, none)).toBe(3);
    expect(computeAggregateInMemory(spec({ fn: 'count' }), logins, current, none)).toBe(5);
  });

  it('sums, averages and maxima are exact decimals, as PostgreSQL numeric computes them', () => {
    const big = [
      { type: 'TRANSACTION', occurredAt: at(0), amount: '999999999999999999.98' },
      { type: 'TRANSACTION', occurredAt: at(1), amount: '0.01' },
      { type: 'TRANSACTION', occurredAt: at(2), amount: '999999999999999999.97' },
    ];
    expect(computeAggregateInMemory(spec({ fn: 'sum', field: 'amount' }), big, current, none)).toBe('1999999999999999999.96');
    expect(computeAggregateInMemory(spec({ fn: 'max', field: 'amount' }), big, current, none)).toBe('999999999999999999.98');
    const tenths = ['0.1', '0.2', '0.3'].map((amount, i) => ({ type: 'TRANSACTION', occurredAt: at(i), amount }));
    expect(computeAggregateInMemory(spec({ fn: 'sum', field: 'amount' }), tenths, current, none)).toBe('0.6');
    expect(computeAggregateInMemory(spec({ fn: 'avg', field: 'amount' }), tenths, current, none)).toBe('0.2');
    // Equal decimals are one value for distinctCount, however they are spelled; 18-digit ones stay apart.
    expect(computeAggregateInMemory(spec({ fn: 'distinctCount', field: 'amount' }), [...big, { ...big[1], amount: '0.010' }], current, none)).toBe(3);
  });
});
