import { generateSync } from 'otplib';
import { TotpService } from './totp.service';

describe('TotpService', () => {
  const totp = new TotpService();
  const secret = totp.newSecret();
  const at = (stepOffset: number, now: number) => generateSync({ secret, epoch: Math.floor(now / 1000) + stepOffset * 30 });
  const now = 1_790_000_015_000; // 15 s into a step

  it('accepts the current step and ±1, returning the matched step', async () => {
    const current = Math.floor(now / 30_000);
    expect(await totp.matchStep(secret, at(0, now), now)).toBe(current);
    expect(await totp.matchStep(secret, at(-1, now), now)).toBe(current - 1);
    expect(await totp.matchStep(secret, at(1, now), now)).toBe(current + 1);
  });

  it('refuses codes two steps away', async () => {
    expect(await totp.matchStep(secret, at(-2, now), now)).toBeNull();
    expect(await totp.matchStep(secret, at(2, now), now)).toBeNull();
  });

  it('refuses malformed codes', async () => {
    expect(await totp.matchStep(secret, '12345', now)).toBeNull();
    expect(await totp.matchStep(secret, 'abcdef', now)).toBeNull();
  });

  it('builds an otpauth URI authenticator apps accept', () => {
    const uri = totp.uri(secret, 'alice@custos.test');
    expect(uri).toMatch(/^otpauth:\/\/totp\/Custos:alice%40custos\.test\?/);
    expect(uri).toContain(`secret=${secret}`);
    expect(uri).toContain('issuer=Custos');
  });
});
