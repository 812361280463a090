import { randomBytes } from 'node:crypto';
import { constantTimeEqualHex, keyedDigest } from './digest';

describe('keyedDigest', () => {
  const key = randomBytes(32);

  it('is a deterministic hex HMAC-SHA-256, separated by purpose and by key', () => {
    const digest = keyedDigest(key, 'recovery-code', 'ABCD-EFGH');
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(keyedDigest(key, 'recovery-code', 'ABCD-EFGH')).toBe(digest);
    expect(keyedDigest(key, 'challenge-code', 'ABCD-EFGH')).not.toBe(digest);
    expect(keyedDigest(randomBytes(32), 'recovery-code', 'ABCD-EFGH')).not.toBe(digest);
  });

  it('keeps purpose and value apart (no concatenation ambiguity)', () => {
    expect(keyedDigest(key, 'ab', 'c')).not.toBe(keyedDigest(key, 'a', 'bc'));
  });

  it('refuses an empty purpose or a short key', () => {
    expect(() => keyedDigest(key, '', 'x')).toThrow('purpose');
    expect(() => keyedDigest(randomBytes(8), 'p', 'x')).toThrow('key');
  });
});

describe('constantTimeEqualHex', () => {
  const a = keyedDigest(randomBytes(32), 'token', 'x');

  it('accepts equal digests, ignoring hex case', () => {
    expect(constantTimeEqualHex(a, a)).toBe(true);
    expect(constantTimeEqualHex(a, a.toUpperCase())).toBe(true);
  });

  it('refuses different digests, different lengths, non-hex and empty input', () => {
    const last = a.slice(-1) === '0' ? '1' : '0';
    expect(constantTimeEqualHex(a, a.slice(0, -1) + last)).toBe(false);
    expect(constantTimeEqualHex(a, a.slice(0, -2))).toBe(false);
    expect(constantTimeEqualHex(a, `${a}00`)).toBe(false);
    expect(constantTimeEqualHex('zz', 'zz')).toBe(false);
    expect(constantTimeEqualHex('abc', 'abc')).toBe(false);
    expect(constantTimeEqualHex('', '')).toBe(false);
    expect(constantTimeEqualHex(a, undefined as unknown as string)).toBe(false);
  });
});
