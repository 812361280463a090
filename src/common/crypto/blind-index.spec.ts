import { randomBytes } from 'node:crypto';
import { blindIndex, isE164, normaliseEmail, normaliseNationalId, normalisePhone } from './blind-index';
import { InvalidPiiValueError } from './crypto.errors';

describe('normalisers', () => {
  it('trims and lower-cases e-mail addresses', () => {
    expect(normaliseEmail(' Alice@Example.COM ')).toBe('alice@example.com');
    expect(() => normaliseEmail('   ')).toThrow(InvalidPiiValueError);
  });

  it.each([
    ['+86 139-0000-1234', '+8613900001234'],
    ['+1 (415) 555.0100', '+14155550100'],
    ['+44\t20 7946 0958', '+442079460958'],
    ['+8613900001234', '+8613900001234'],
  ])('normalises phone %p to E.164 %p', (input, expected) => {
    expect(normalisePhone(input)).toBe(expected);
  });

  it.each(['12345', '8613900001234', '+0123456789', '+12345', '+1234567890123456', '+86 139 abc 1234', '', '++8613900001234'])(
    'refuses phone %p with a validation error that does not echo the value',
    (input) => {
      try {
        normalisePhone(input);
        throw new Error('accepted');
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidPiiValueError);
        expect((error as InvalidPiiValueError).field).toBe('phone');
        if (input) expect((error as Error).message).not.toContain(input);
      }
    },
  );

  it('checks E.164 strictly', () => {
    expect(isE164('+8613900001234')).toBe(true);
    expect(isE164('+1234567')).toBe(true);
    expect(isE164('+86 139')).toBe(false);
    expect(isE164('12345')).toBe(false);
    expect(isE164('+0123456789')).toBe(false);
  });

  it('upper-cases national ids and removes whitespace and dashes', () => {
    expect(normaliseNationalId(' ab 12-34\tc ')).toBe('AB1234C');
    expect(() => normaliseNationalId(' - ')).toThrow(InvalidPiiValueError);
  });
});

describe('blindIndex', () => {
  const key = randomBytes(32);

  it('is a deterministic hex HMAC-SHA-256', () => {
    const digest = blindIndex(key, 'email', 'alice@example.com');
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(blindIndex(key, 'email', 'alice@example.com')).toBe(digest);
  });

  it('indexes the normalised value', () => {
    expect(blindIndex(key, 'email', ' Alice@Example.COM ')).toBe(blindIndex(key, 'email', 'alice@example.com'));
    expect(blindIndex(key, 'phone', '+86 139-0000-1234')).toBe(blindIndex(key, 'phone', '+8613900001234'));
    expect(blindIndex(key, 'nationalId', 'ab-1234')).toBe(blindIndex(key, 'nationalId', 'AB1234'));
  });

  it('differs per field for the same value, and per key', () => {
    expect(blindIndex(key, 'email', 'AB1234')).not.toBe(blindIndex(key, 'nationalId', 'AB1234'));
    expect(blindIndex(key, 'phone', '+8613900001234')).not.toBe(blindIndex(key, 'nationalId', '+8613900001234'));
    expect(blindIndex(randomBytes(32), 'email', 'alice@example.com')).not.toBe(blindIndex(key, 'email', 'alice@example.com'));
  });

  it('refuses values that cannot be normalised', () => {
    expect(() => blindIndex(key, 'phone', '12345')).toThrow(InvalidPiiValueError);
  });
});
