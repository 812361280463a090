import { randomBytes } from 'node:crypto';
import { DecryptionError, KeyVersionMissingError } from './crypto.errors';
import {
  dataKeyOwner,
  decryptNullable,
  decryptValue,
  encryptNullable,
  encryptValue,
  generateDataKey,
  rewrapDataKey,
  unwrapDataKey,
  wrapDataKey,
  wrappedKeyVersion,
  type ValueAad,
} from './envelope';
import { KeyRing } from './key-ring';

const aad: ValueAad = { table: 'customers', column: 'email', rowId: '3f1c2a52-8d3e-4f7a-9c1b-0a2b3c4d5e6f' };

/** Re-encodes one dot-separated part after flipping a bit, so the result is still well-formed base64url. */
function flipBit(value: string, part: number, byte = 0): string {
  const parts = value.split('.');
  const bytes = Buffer.from(parts[part], 'base64url');
  bytes[byte] ^= 0x01;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

function expectDecryptionError(fn: () => unknown): void {
  expect(fn).toThrow(DecryptionError);
}

describe('value encryption', () => {
  const dek = generateDataKey();

  it('round-trips text, including empty and non-ASCII strings', () => {
    for (const text of ['alice@example.com', '', '张三 — Zoë', 'x'.repeat(10_000)]) {
      expect(decryptValue(dek, encryptValue(dek, text, aad), aad)).toBe(text);
    }
  });

  it('produces a tagged "e1.<iv>.<tag>.<ciphertext>" string that does not contain the plaintext', () => {
    const ciphertext = encryptValue(dek, 'alice@example.com', aad);
    expect(ciphertext).toMatch(/^e1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(ciphertext).not.toContain('alice');
  });

  it('uses a fresh IV for every value, so equal plaintexts give different ciphertexts', () => {
    const values = Array.from({ length: 50 }, () => encryptValue(dek, 'same', aad));
    expect(new Set(values).size).toBe(50);
    expect(new Set(values.map((v) => v.split('.')[1])).size).toBe(50);
  });

  describe('refuses tampering with DecryptionError', () => {
    const ciphertext = encryptValue(dek, 'alice@example.com', aad);

    it.each([
      ['the IV', 1],
      ['the tag', 2],
      ['the ciphertext', 3],
    ])('a flipped bit in %s', (_name, part) => {
      expectDecryptionError(() => decryptValue(dek, flipBit(ciphertext, part), aad));
    });

    it.each([
      ['another format tag', ciphertext.replace(/^e1\./, 'e2.')],
      ['no format tag', ciphertext.slice(3)],
      ['a truncated ciphertext', ciphertext.slice(0, -2)],
      ['a ciphertext cut by one character', ciphertext.slice(0, -1)],
      ['a truncated tag', flipBit(ciphertext, 2).replace(/\.[^.]+\./, (m) => m.slice(0, -3) + '.')],
      ['a missing part', ciphertext.split('.').slice(0, 3).join('.')],
      ['an extra part', `${ciphertext}.AAAA`],
      ['a non-canonical base64url part', ciphertext.replace(/\.([^.]+)\./, '.$1=.')],
      ['an empty string', ''],
      ['the plaintext itself', 'alice@example.com'],
    ])('%s', (_name, tampered) => {
      expectDecryptionError(() => decryptValue(dek, tampered, aad));
    });

    it('a value that is not a string', () => {
      expectDecryptionError(() => decryptValue(dek, 42 as unknown as string, aad));
    });
  });

  it.each([
    ['table', { ...aad, table: 'users' }],
    ['column', { ...aad, column: 'phone' }],
    ['row id', { ...aad, rowId: '3f1c2a52-8d3e-4f7a-9c1b-0a2b3c4d5e70' }],
  ])('refuses a ciphertext moved to another %s', (_name, otherAad) => {
    expectDecryptionError(() => decryptValue(dek, encryptValue(dek, 'alice@example.com', aad), otherAad));
  });

  it('encodes the AAD unambiguously: shifting a boundary between table and column fails', () => {
    const ciphertext = encryptValue(dek, 'v', { table: 'ab', column: 'c', rowId: '1' });
    expectDecryptionError(() => decryptValue(dek, ciphertext, { table: 'a', column: 'bc', rowId: '1' }));
  });

  it('refuses a wrong data key, and a key of the wrong length', () => {
    const ciphertext = encryptValue(dek, 'alice@example.com', aad);
    expectDecryptionError(() => decryptValue(generateDataKey(), ciphertext, aad));
    expectDecryptionError(() => decryptValue(randomBytes(16), ciphertext, aad));
  });

  it('refuses to encrypt with a bad key or without a complete AAD', () => {
    expect(() => encryptValue(randomBytes(16), 'x', aad)).toThrow('32-byte');
    expect(() => encryptValue(dek, 'x', { ...aad, rowId: '' })).toThrow('AAD row id');
  });

  it('maps null and undefined to null in the nullable helpers', () => {
    expect(encryptNullable(dek, null, aad)).toBeNull();
    expect(encryptNullable(dek, undefined, aad)).toBeNull();
    expect(decryptNullable(dek, null, aad)).toBeNull();
    expect(decryptNullable(dek, undefined, aad)).toBeNull();
    expect(decryptNullable(dek, encryptNullable(dek, 'x', aad), aad)).toBe('x');
    expect(decryptNullable(dek, encryptNullable(dek, '', aad), aad)).toBe('');
  });
});

describe('data keys', () => {
  const v1 = randomBytes(32);
  const v2 = randomBytes(32);
  const ringV1 = new KeyRing(new Map([['v1', v1]]), 'v1');
  const ringV2 = new KeyRing(new Map([['v1', v1], ['v2', v2]]), 'v2');
  const owner = { owner: dataKeyOwner.customer('8b0c8d9e-1111-4222-8333-944455556666') };
  const otherOwner = { owner: dataKeyOwner.customer('8b0c8d9e-1111-4222-8333-944455556667') };

  it('generates random 32-byte keys', () => {
    const a = generateDataKey();
    expect(a).toHaveLength(32);
    expect(a.equals(generateDataKey())).toBe(false);
  });

  it('wraps as "<version>:<base64url>" and unwraps to the same key', () => {
    const dek = generateDataKey();
    const wrapped = wrapDataKey(ringV1, dek, owner);
    expect(wrapped).toMatch(/^v1:[A-Za-z0-9_-]{80}$/);
    expect(wrappedKeyVersion(wrapped)).toBe('v1');
    expect(unwrapDataKey(ringV1, wrapped, owner).equals(dek)).toBe(true);
  });

  it('refuses a wrapped key copied to another owner', () => {
    const wrapped = wrapDataKey(ringV1, generateDataKey(), owner);
    expectDecryptionError(() => unwrapDataKey(ringV1, wrapped, otherOwner));
    expectDecryptionError(() => unwrapDataKey(ringV1, wrapped, { owner: dataKeyOwner.user('8b0c8d9e-1111-4222-8333-944455556666') }));
  });

  it('refuses tampered or malformed wrapped keys', () => {
    const wrapped = wrapDataKey(ringV2, generateDataKey(), owner);
    const body = Buffer.from(wrapped.slice(3), 'base64url');
    for (const index of [0, 12, 28, 59]) {
      const tampered = Buffer.from(body);
      tampered[index] ^= 0x80;
      expectDecryptionError(() => unwrapDataKey(ringV2, `v2:${tampered.toString('base64url')}`, owner));
    }
    expectDecryptionError(() => unwrapDataKey(ringV2, `v2:${body.subarray(0, 59).toString('base64url')}`, owner));
    expectDecryptionError(() => unwrapDataKey(ringV2, wrapped.replace(/^v2:/, 'v1:'), owner));
    expectDecryptionError(() => unwrapDataKey(ringV2, wrapped.slice(3), owner));
    expectDecryptionError(() => unwrapDataKey(ringV2, '', owner));
  });

  it('keeps unwrapping v1 keys after v2 becomes active; rewrap moves them to v2 once', () => {
    const dek = generateDataKey();
    const wrappedV1 = wrapDataKey(ringV1, dek, owner);
    expect(unwrapDataKey(ringV2, wrappedV1, owner).equals(dek)).toBe(true);

    const first = rewrapDataKey(ringV2, wrappedV1, owner);
    expect(first.changed).toBe(true);
    expect(wrappedKeyVersion(first.wrapped)).toBe('v2');
    expect(unwrapDataKey(ringV2, first.wrapped, owner).equals(dek)).toBe(true);

    const second = rewrapDataKey(ringV2, first.wrapped, owner);
    expect(second).toEqual({ wrapped: first.wrapped, changed: false });
  });

  it('rewrap proves the key opens: a key for another owner is refused even when already active', () => {
    const wrapped = wrapDataKey(ringV2, generateDataKey(), owner);
    expectDecryptionError(() => rewrapDataKey(ringV2, wrapped, otherOwner));
  });

  it('names a missing key-encryption key version clearly', () => {
    const wrappedV2 = wrapDataKey(ringV2, generateDataKey(), owner);
    expect(() => unwrapDataKey(ringV1, wrappedV2, owner)).toThrow(KeyVersionMissingError);
    expect(() => unwrapDataKey(ringV1, wrappedV2, owner)).toThrow('PII key version "v2" is not configured');
  });

  it('refuses a missing owner', () => {
    expect(() => wrapDataKey(ringV1, generateDataKey(), { owner: '' })).toThrow('owner');
  });
});
