import type { Condition } from './condition.types';
import { listReferences } from './list-references';
import { validateCondition } from './validate-condition';

describe('listReferences', () => {
  it('finds every list operand with the path validation errors use, inside aggregates and not included', () => {
    const condition = {
      all: [
        { compare: { left: { field: 'counterpartyRef' }, op: 'in', right: { list: 'SANCTIONED_COUNTERPARTIES' } } },
        { not: { compare: { left: { field: 'deviceId' }, op: 'notIn', right: { list: 'KNOWN_DEVICES' } } } },
        {
          compare: {
            left: {
              aggregate: {
                fn: 'count', eventTypes: ['TRANSACTION'], window: 'P1D',
                where: { any: [{ compare: { left: { field: 'counterpartyRef' }, op: 'in', right: { list: 'MULES' } } }] },
              },
            },
            op: 'gte',
            right: { value: 2 },
          },
        },
      ],
    };
    expect(validateCondition(condition)).toEqual([]);
    expect(listReferences(condition as Condition)).toEqual([
      { code: 'SANCTIONED_COUNTERPARTIES', path: 'condition.all.0.compare.right.list' },
      { code: 'KNOWN_DEVICES', path: 'condition.all.1.not.compare.right.list' },
      { code: 'MULES', path: 'condition.all.2.compare.left.aggregate.where.any.0.compare.right.list' },
    ]);
  });

  it('finds nothing in a condition without lists', () => {
    expect(listReferences({ compare: { left: { field: 'amount' }, op: 'gt', right: { mul: [{ customer: 'transactionLimit' }, { value: 0.5 }] } } }, 'input.condition')).toEqual([]);
  });
});
