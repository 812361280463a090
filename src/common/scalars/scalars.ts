import { GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { BadUserInputError } from '../errors/app-error';

/** Calendar date without time zone, `YYYY-MM-DD`; a real day (no 2025-02-30). */
export const DateScalar = new GraphQLScalarType<string, string>({
  name: 'Date',
  description: 'A calendar date, YYYY-MM-DD',
  serialize(value) {
    if (value instanceof Date) return value.toISOString().slice(0, 10);
    return parseDate(value);
  },
  parseValue: parseDate,
  parseLiteral(ast: ValueNode) {
    if (ast.kind !== Kind.STRING) throw new BadUserInputError('Date must be a string YYYY-MM-DD');
    return parseDate(ast.value);
  },
});

function parseDate(value: unknown): string {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    throw new BadUserInputError('Date must be a string YYYY-MM-DD');
  }
  const parsed = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== value) {
    // No value in the message: a date is often a date of birth (SPEC §4, no PII in error messages).
    throw new BadUserInputError('Date must be a real calendar day');
  }
  return value;
}

// Fraction digits are bounded loosely: each input that stores money checks its own precision
// (`MaxDecimals`), so an over-precise amount fails its own field (one event of a batch), not the operation.
const DECIMAL = /^-?(0|[1-9]\d{0,17})(\.\d{1,30})?$/;

/** Whether `text` is a decimal in the form the `Decimal` scalar accepts (for input that did not come through it). */
export function isDecimalString(text: string): boolean {
  return DECIMAL.test(text);
}

/**
 * Money and other exact numbers travel as strings ("12500.00") so no client rounds them through a float.
 * Inputs accept strings (and, leniently, integer literals); outputs are always strings.
 */
export const DecimalScalar = new GraphQLScalarType<string, string>({
  name: 'Decimal',
  description: 'An exact decimal number as a string, e.g. "12500.00"',
  serialize(value) {
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    if (typeof value === 'string' && DECIMAL.test(value)) return value;
    throw new TypeError('Decimal cannot represent a non-decimal value');
  },
  parseValue: parseDecimal,
  parseLiteral(ast: ValueNode) {
    if (ast.kind === Kind.STRING || ast.kind === Kind.INT) return parseDecimal(ast.value);
    throw new BadUserInputError('Decimal must be a string such as "12500.00"');
  },
});

function parseDecimal(value: unknown): string {
  const text = typeof value === 'number' && Number.isInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || !DECIMAL.test(text.trim())) {
    throw new BadUserInputError('Decimal must be a string such as "12500.00" (up to 18 integer and 30 fraction digits)');
  }
  return text.trim();
}

/** Arbitrary JSON; accepts inline object/list literals and variables. */
export const JSONScalar = GraphQLJSON;
