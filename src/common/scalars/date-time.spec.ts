import { GraphQLISODateTime } from '@nestjs/graphql';
import { buildSchema, GraphQLError, GraphQLObjectType, GraphQLSchema, GraphQLString, Kind, parse, validate, type ValueNode } from 'graphql';
import { variablesError } from '../../graphql/variable-errors';
import { AppError, BadUserInputError } from '../errors/app-error';
import { DATE_TIME_REASONS, DateTimeScalar, INSTANT_TIME, parseInstant } from './date-time';

const literal = (value: string): ValueNode => ({ kind: Kind.STRING, value });

describe('DateTime scalar', () => {
  it.each([
    ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T01:00:00+01:00', '2026-01-01T00:00:00.000Z'],
    ['2025-12-31T19:00:00-05:00', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T05:30:00+0530', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T02:00:00+02', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T00:00:00-00:00', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T00:00Z', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01t00:00:00z', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T00:00:00.5Z', '2026-01-01T00:00:00.500Z'],
    ['2026-01-01T00:00:00.123456789Z', '2026-01-01T00:00:00.123Z'],
    ['2024-02-29T23:59:59+00:00', '2024-02-29T23:59:59.000Z'],
    ['2026-03-01T00:30:00+01:00', '2026-02-28T23:30:00.000Z'],
    // Years below 100 are not mapped to the 1900s (Date.UTC would).
    ['0099-06-15T12:00:00Z', '0099-06-15T12:00:00.000Z'],
  ])('accepts %s as %s', (input, iso) => {
    expect(DateTimeScalar.parseValue(input)).toEqual(new Date(iso));
    expect((DateTimeScalar.parseValue(input) as Date).toISOString()).toBe(iso);
    expect((DateTimeScalar.parseLiteral(literal(input)) as Date).toISOString()).toBe(iso);
  });

  it.each([
    ['yesterday', DATE_TIME_REASONS.format],
    ['x', DATE_TIME_REASONS.format],
    ['', DATE_TIME_REASONS.format],
    ['2024-01-01T00:00:00', DATE_TIME_REASONS.noOffset],
    ['2024-01-01T00:00', DATE_TIME_REASONS.noOffset],
    ['2024-01-01T00:00:00.000', DATE_TIME_REASONS.noOffset],
    ['2024-01-01', DATE_TIME_REASONS.bareDate],
    ['2024-01-01 00:00:00Z', DATE_TIME_REASONS.format],
    ['20240101T000000Z', DATE_TIME_REASONS.format],
    ['2024-W01-1T00:00:00Z', DATE_TIME_REASONS.format],
    ['Mon, 01 Jan 2024 00:00:00 GMT', DATE_TIME_REASONS.format],
    ['2024-1-1T00:00:00Z', DATE_TIME_REASONS.format],
    ['+002024-01-01T00:00:00Z', DATE_TIME_REASONS.format],
    ['2024-01-01T00:00:00.1234567890Z', DATE_TIME_REASONS.format],
    ['2024-01-01T00:00:00Z ', DATE_TIME_REASONS.format],
    [`2024-01-01T00:00:00${'0'.repeat(100)}Z`, DATE_TIME_REASONS.format],
    ['2025-02-29T00:00:00Z', DATE_TIME_REASONS.range],
    ['2026-02-30T00:00:00Z', DATE_TIME_REASONS.range],
    ['2026-13-01T00:00:00Z', DATE_TIME_REASONS.range],
    ['2026-00-01T00:00:00Z', DATE_TIME_REASONS.range],
    ['2026-01-00T00:00:00Z', DATE_TIME_REASONS.range],
    ['2026-01-01T24:00:00Z', DATE_TIME_REASONS.range],
    ['2026-01-01T23:60:00Z', DATE_TIME_REASONS.range],
    ['2026-01-01T23:59:60Z', DATE_TIME_REASONS.range],
    ['2026-01-01T00:00:00+24:00', DATE_TIME_REASONS.range],
    ['2026-01-01T00:00:00+01:60', DATE_TIME_REASONS.range],
  ])('refuses %p (variable and literal)', (input, reason) => {
    expect(parseInstant(input)).toEqual({ reason });
    expect(() => DateTimeScalar.parseValue(input)).toThrow(reason);
    expect(() => DateTimeScalar.parseLiteral(literal(input))).toThrow(reason);
  });

  it.each([0, 1704067200000, true, null, undefined, {}, [], new Date('2026-01-01T00:00:00Z'), new Date('x')])('refuses the non-string %p', (input) => {
    expect(() => DateTimeScalar.parseValue(input)).toThrow(DATE_TIME_REASONS.notString);
  });

  it.each<ValueNode>([
    { kind: Kind.INT, value: '1704067200' },
    { kind: Kind.FLOAT, value: '1.5' },
    { kind: Kind.BOOLEAN, value: true },
    { kind: Kind.ENUM, value: 'NOW' },
    { kind: Kind.LIST, values: [] },
    { kind: Kind.OBJECT, fields: [] },
  ])('refuses the non-string literal %p', (ast) => {
    expect(() => DateTimeScalar.parseLiteral(ast)).toThrow(DATE_TIME_REASONS.notString);
  });

  it('refuses with a BAD_USER_INPUT GraphQLError holding a BadUserInputError, never quoting the value', () => {
    const node = literal('1990-05-17T00:00:00');
    let error: unknown;
    try {
      DateTimeScalar.parseLiteral(node);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(GraphQLError);
    const refusal = error as GraphQLError;
    expect(refusal.message).toMatch(/^DateTime cannot represent/);
    expect(refusal.extensions.code).toBe('BAD_USER_INPUT');
    expect(refusal.nodes).toEqual([node]);
    expect(refusal.originalError).toBeInstanceOf(BadUserInputError);
    expect((refusal.originalError as AppError).message).toBe(`DateTime ${DATE_TIME_REASONS.noOffset}`);
    expect(JSON.stringify({ message: refusal.message, original: refusal.originalError?.message })).not.toContain('1990');
  });

  describe('output', () => {
    it.each([new Date('2026-01-01T00:00:00Z'), new Date('2019-12-03T09:54:33.123Z'), new Date(0), new Date('0099-06-15T12:00:00Z'), '2026-01-01T00:00:00Z', 1704067200000, null, undefined, {}])(
      'serializes %p exactly as GraphQLISODateTime did',
      (value) => {
        expect(DateTimeScalar.serialize(value)).toBe(GraphQLISODateTime.serialize(value));
      },
    );
    it('is UTC with milliseconds', () => {
      expect(DateTimeScalar.serialize(new Date('2026-01-01T01:00:00+01:00'))).toBe('2026-01-01T00:00:00.000Z');
    });
    it('keeps the name DateTime', () => {
      expect(DateTimeScalar.name).toBe(GraphQLISODateTime.name);
    });
  });
});

describe('INSTANT_TIME', () => {
  // The pattern EventInput.occurredAt was checked against before it moved here: the same strings must match.
  const BEFORE = /T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$/i;
  it.each([
    '2026-01-31T09:30:00Z', '2026-01-31T09:30Z', '2026-01-31T09:30:00.123456789+01:00', '2026-01-31T09:30:00-0130', '2026-01-31T09:30:00+01',
    '2026-01-31t09:30:00z', '2026-01-31T09:30:00', '2026-01-31', '2026-01-31T09:30:00.1234567890Z', '2026-01-31T09:30:00+1', '2026-01-31T9:30:00Z',
    '2026-01-31T09:30:00+01:0', 'T09:30Z', '',
  ])('matches %p as the former occurredAt pattern did', (text) => {
    expect(INSTANT_TIME.test(text)).toBe(BEFORE.test(text));
  });
});

describe('DateTime refusals through graphql-js', () => {
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({
      name: 'Query',
      fields: {
        echo: {
          type: GraphQLString,
          args: { at: { type: DateTimeScalar } },
          resolve: (_root, { at }: { at?: Date }) => at?.toISOString() ?? null,
        },
      },
    }),
  });

  it('a variable: variablesError names the variable and the reason', () => {
    const error = variablesError(schema, parse('query($at: DateTime) { echo(at: $at) }'), { at: '2024-01-01T00:00:00' }, undefined);
    expect(error).toBeInstanceOf(BadUserInputError);
    expect(error!.extensions.fieldErrors).toEqual([{ path: 'at', message: `Expected type "DateTime". DateTime ${DATE_TIME_REASONS.noOffset}` }]);
    expect(error!.message).not.toContain('2024');
  });

  it('a variable inside an input object: the path from the input root', () => {
    const withInput = buildSchema('scalar DateTime input F { from: DateTime } type Query { q(f: F): String }');
    Object.assign(withInput.getType('DateTime')!, { parseValue: DateTimeScalar.parseValue, parseLiteral: DateTimeScalar.parseLiteral });
    const error = variablesError(withInput, parse('query($f: F) { q(f: $f) }'), { f: { from: 'yesterday' } }, undefined);
    expect(error!.extensions.fieldErrors).toEqual([{ path: 'from', message: `Expected type "DateTime". DateTime ${DATE_TIME_REASONS.format}` }]);
  });

  it('a valid variable passes', () => {
    expect(variablesError(schema, parse('query($at: DateTime) { echo(at: $at) }'), { at: '2026-01-01T01:00:00+01:00' }, undefined)).toBeNull();
  });

  it('an inline literal: a validation error located at the literal, with the BadUserInputError inside', () => {
    const [error, ...rest] = validate(schema, parse('{ echo(at: "x") }'));
    expect(rest).toEqual([]);
    expect(error.locations).toEqual([{ line: 1, column: 12 }]);
    expect(error.originalError).toBeInstanceOf(BadUserInputError);
    expect(error.originalError!.message).toBe(`DateTime ${DATE_TIME_REASONS.format}`);
  });
});
