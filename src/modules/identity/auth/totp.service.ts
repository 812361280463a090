import { Injectable } from '@nestjs/common';
import { generateSecret, generateURI, verify } from 'otplib';

export const TOTP_PERIOD_SECONDS = 30;

/** RFC 6238 TOTP: SHA-1, 6 digits, 30-second steps, one step of drift either way. */
@Injectable()
export class TotpService {
  newSecret(): string {
    return generateSecret({ length: 20 });
  }

  uri(secret: string, accountName: string): string {
    return generateURI({ issuer: 'Custos', label: accountName, secret, algorithm: 'sha1', digits: 6, period: TOTP_PERIOD_SECONDS });
  }

  /**
   * The time step the code belongs to, or null when it matches none of the current step ±1. Callers
   * refuse a step at or below the last one accepted, so each code works once.
   */
  async matchStep(secret: string, code: string, now = Date.now()): Promise<number | null> {
    if (!/^\d{6}$/.test(code)) return null;
    const result = await verify({
      secret,
      token: code,
      algorithm: 'sha1',
      digits: 6,
      period: TOTP_PERIOD_SECONDS,
      epoch: Math.floor(now / 1000),
      epochTolerance: TOTP_PERIOD_SECONDS,
    });
    if (!result.valid) return null;
    // The TOTP result carries the epoch (seconds) of the step that matched.
    return Math.floor((result as unknown as { epoch: number }).epoch / TOTP_PERIOD_SECONDS);
  }
}
