import { costKey } from './query-limits';

describe('costKey: what a remembered cost depends on', () => {
  const event = (amount: string) => ({ customerId: 'c1', type: 'TRANSACTION', amount });

  it('keeps scalars as they are and the operation name apart', () => {
    expect(costKey({ n: 2 }, undefined)).not.toBe(costKey({ n: 3 }, undefined));
    expect(costKey({ n: 2 }, 'A')).not.toBe(costKey({ n: 2 }, 'B'));
    expect(costKey({ s: 'x' }, undefined)).not.toBe(costKey({ s: 'y' }, undefined));
    expect(costKey(undefined, undefined)).toBe(costKey(undefined, undefined));
  });

  it('describes a list by its length and an input object by a marker, whatever they hold', () => {
    expect(costKey({ events: [event('1.00'), event('2.00')] }, undefined)).toBe(costKey({ events: [event('3.00'), { type: 'LOGIN' }] }, undefined));
    expect(costKey({ events: [event('1.00')] }, undefined)).not.toBe(costKey({ events: [event('1.00'), event('1.00')] }, undefined));
    expect(costKey({ i: { externalRef: 'a', nested: { x: 1 } } }, undefined)).toBe(costKey({ i: { externalRef: 'b' } }, undefined));
    // A list given as one object (coerced to a list of one) is another shape than a list.
    expect(costKey({ events: event('1.00') }, undefined)).not.toBe(costKey({ events: [event('1.00')] }, undefined));
  });

  it('cannot be matched by a string that spells a marker', () => {
    const list = costKey({ events: [event('1.00'), event('1.00')] }, undefined);
    for (const impostor of ['{"length":2}', '[2]', 'list:2']) expect(costKey({ events: impostor }, undefined)).not.toBe(list);
    expect(costKey({ events: { length: 2 } }, undefined)).not.toBe(list);
    expect(costKey({ i: null }, undefined)).not.toBe(costKey({ i: {} }, undefined));
  });
});
