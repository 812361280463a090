import { Kind } from 'graphql';
import { DateScalar, DecimalScalar, JSONScalar } from './scalars';

describe('Date scalar', () => {
  it('accepts real calendar days', () => {
    expect(DateScalar.parseValue('1990-01-02')).toBe('1990-01-02');
    expect(DateScalar.parseValue('2024-02-29')).toBe('2024-02-29');
  });
  it.each(['2025-02-30', '1990-1-2', '02/01/1990', '', 19900102])('refuses %p', (value) => {
    expect(() => DateScalar.parseValue(value)).toThrow(/Date|calendar/);
  });
  it('serializes a JS Date as its UTC day', () => {
    expect(DateScalar.serialize(new Date('2020-05-06T23:00:00Z'))).toBe('2020-05-06');
  });
});

describe('Decimal scalar', () => {
  it('keeps strings exact', () => {
    expect(DecimalScalar.parseValue('12500.00')).toBe('12500.00');
    expect(DecimalScalar.parseLiteral({ kind: Kind.STRING, value: '0.10' })).toBe('0.10');
    expect(DecimalScalar.parseLiteral({ kind: Kind.INT, value: '15' })).toBe('15');
    // Precision is each field's own rule (MaxDecimals), so the scalar lets it through to be refused there.
    expect(DecimalScalar.parseValue('1.1234567')).toBe('1.1234567');
  });
  it.each(['1e5', 'abc', '1.', '.5', '01', `1.${'1'.repeat(31)}`, '1234567890123456789', 1.5])('refuses %p', (value) => {
    expect(() => DecimalScalar.parseValue(value)).toThrow(/Decimal/);
  });
  it('refuses float literals', () => {
    expect(() => DecimalScalar.parseLiteral({ kind: Kind.FLOAT, value: '1.5' })).toThrow(/Decimal/);
  });
  it('serializes to a string', () => {
    expect(DecimalScalar.serialize('12500.00')).toBe('12500.00');
    expect(DecimalScalar.serialize(42)).toBe('42');
  });
});

describe('JSON scalar', () => {
  it('parses inline object literals', () => {
    const ast = {
      kind: Kind.OBJECT,
      fields: [{ kind: Kind.OBJECT_FIELD, name: { kind: Kind.NAME, value: 'a' }, value: { kind: Kind.INT, value: '1' } }],
    } as never;
    expect(JSONScalar.parseLiteral(ast, {})).toEqual({ a: 1 });
  });
});
