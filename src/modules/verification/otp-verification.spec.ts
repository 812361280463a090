import { randomBytes } from 'node:crypto';
import { newOtpCode, otpDigest } from './otp-verification.service';

describe('one-time codes', () => {
  const key = randomBytes(32);

  it('are six digits, leading zeros kept, and vary', () => {
    const codes = Array.from({ length: 200 }, () => newOtpCode());
    expect(codes.every((c) => /^\d{6}$/.test(c))).toBe(true);
    expect(new Set(codes).size).toBeGreaterThan(190);
  });

  it('are stored as a keyed digest bound to the challenge id', () => {
    const d = otpDigest(key, 'a1b2c3d4-0000-4000-8000-000000000001', '012345');
    expect(d).toMatch(/^[0-9a-f]{64}$/);
    expect(d).not.toContain('012345');
    expect(otpDigest(key, 'a1b2c3d4-0000-4000-8000-000000000001', '012345')).toBe(d);
    // another challenge, another code or another key: another digest
    expect(otpDigest(key, 'a1b2c3d4-0000-4000-8000-000000000002', '012345')).not.toBe(d);
    expect(otpDigest(key, 'a1b2c3d4-0000-4000-8000-000000000001', '012346')).not.toBe(d);
    expect(otpDigest(randomBytes(32), 'a1b2c3d4-0000-4000-8000-000000000001', '012345')).not.toBe(d);
  });
});
