import { validateSync } from 'class-validator';
import { MaxDecimals } from './decimal.decorators';

class Money {
  @MaxDecimals(2) amount?: unknown;
}

const errors = (amount: unknown) => {
  const m = new Money();
  m.amount = amount;
  return validateSync(m).flatMap((e) => Object.values(e.constraints ?? {}));
};

describe('MaxDecimals', () => {
  it.each(['10', '10.1', '10.12', '10.10', '-0.01', '123456789012345678.99'])('accepts %s', (v) => expect(errors(v)).toEqual([]));
  it.each(['10.123', '10.120', '0.001', '-5.999999'])('refuses %s', (v) => expect(errors(v)).toEqual(['x must have at most 2 decimals']));
  it('leaves absent values and non-strings to other validators', () => {
    expect(errors(undefined)).toEqual([]);
    expect(errors(10.123)).toEqual([]);
  });
});
