import { readFileSync } from 'fs';
import { join } from 'path';
import * as argon2 from 'argon2';
import { checkNewPassword, isCommonPassword, passwordLength } from './password-policy';

describe('passwordLength', () => {
  it('counts code points, not UTF-16 units', () => {
    expect(passwordLength('abc')).toBe(3);
    expect('😀'.length).toBe(2);
    expect(passwordLength('😀')).toBe(1);
    expect(passwordLength('😀'.repeat(12))).toBe(12);
    expect(passwordLength('')).toBe(0);
  });
});

describe('common-passwords.txt', () => {
  const lines = readFileSync(join(__dirname, 'common-passwords.txt'), 'utf8').split('\n').filter(Boolean);

  it('is a sizeable lower-case list of 12–128 character entries', () => {
    expect(lines.length).toBeGreaterThan(5000);
    for (const l of lines) {
      expect(l).toBe(l.toLowerCase());
      expect(passwordLength(l)).toBeGreaterThanOrEqual(12);
      expect(passwordLength(l)).toBeLessThanOrEqual(128);
    }
    expect(new Set(lines).size).toBe(lines.length);
  });

  it.each([
    'password1234',
    'password12345',
    'qwerty123456',
    'iloveyou1234',
    '123456789012',
    'passwordpassword',
    'welcome12345',
    'administrator',
    '1qaz2wsx3edc',
  ])('contains %s', (pw) => {
    expect(isCommonPassword(pw)).toBe(true);
  });
});

describe('checkNewPassword', () => {
  const a = (n: number) => 'x7#Kq'.repeat(Math.ceil(n / 5)).slice(0, n);

  it('refuses 11 characters', async () => {
    await expect(checkNewPassword(a(11))).resolves.toBe('must be at least 12 characters');
  });

  it('accepts 12 characters', async () => {
    await expect(checkNewPassword(a(12))).resolves.toBeNull();
  });

  it('accepts 128 characters', async () => {
    await expect(checkNewPassword(a(128))).resolves.toBeNull();
  });

  it('refuses 129 characters', async () => {
    await expect(checkNewPassword(a(129))).resolves.toBe('must be at most 128 characters');
  });

  it('counts code points: 12 emoji are 12 characters, 11 are too few', async () => {
    await expect(checkNewPassword('🔒'.repeat(12))).resolves.toBeNull();
    await expect(checkNewPassword('🔒'.repeat(11))).resolves.toBe('must be at least 12 characters');
    await expect(checkNewPassword('🔒'.repeat(128))).resolves.toBeNull(); // 256 UTF-16 units
    await expect(checkNewPassword('🔒'.repeat(129))).resolves.toBe('must be at most 128 characters');
  });

  it('refuses common passwords case-insensitively', async () => {
    await expect(checkNewPassword('password1234')).resolves.toBe('is too common');
    await expect(checkNewPassword('Password1234')).resolves.toBe('is too common');
    await expect(checkNewPassword('PASSWORDPASSWORD')).resolves.toBe('is too common');
    await expect(checkNewPassword('QwErTy123456')).resolves.toBe('is too common');
  });

  it('has no composition rules: a random long passphrase is accepted', async () => {
    await expect(checkNewPassword('marmalade tractor quietly lunar')).resolves.toBeNull();
    await expect(checkNewPassword('alllowercaseletters')).resolves.toBeNull();
  });

  describe('with the current password', () => {
    const current = 'violet harbour sprocket';
    let currentHash: string;

    beforeAll(async () => {
      currentHash = await argon2.hash(current, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
    });

    it('refuses the same password', async () => {
      await expect(checkNewPassword(current, { currentHash })).resolves.toBe('must differ from the current password');
    });

    it('accepts a different one', async () => {
      await expect(checkNewPassword('violet harbour sprocket!', { currentHash })).resolves.toBeNull();
    });

    it('ignores a malformed current hash', async () => {
      await expect(checkNewPassword(current, { currentHash: 'not-a-hash' })).resolves.toBeNull();
    });
  });
});
