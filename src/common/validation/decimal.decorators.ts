import { ValidateBy } from 'class-validator';

/**
 * A `Decimal` input (already a decimal string: see `DecimalScalar`) with at most `places` fraction digits.
 * Money columns are `numeric(…,2)`, and PostgreSQL would round a third decimal away without a word; refusing
 * it keeps what is stored equal to what was sent. Trailing zeros count as digits ("10.120" is refused):
 * the rule is about what the client wrote, as idempotency compares bodies as sent. Non-strings are left to
 * the other validators.
 */
export function MaxDecimals(places: number): PropertyDecorator {
  return ValidateBy({
    name: 'maxDecimals',
    constraints: [places],
    validator: {
      validate: (value: unknown) => hasAtMostDecimals(value, places),
      defaultMessage: () => `x must have at most ${places} decimals`,
    },
  });
}

/** MaxDecimals' check: true for a non-string (left to the other validators). */
export function hasAtMostDecimals(value: unknown, places: number): boolean {
  return typeof value !== 'string' || (value.split('.')[1] ?? '').length <= places;
}
