import { randomBytes, randomInt } from 'node:crypto';

/** Opaque random secrets with a recognisable prefix (so leaked ones are easy to grep for and revoke). */
export const newSecret = (prefix: string, bytes = 32): string => `${prefix}${randomBytes(bytes).toString('base64url')}`;

const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** Recovery codes: 12 characters from an unambiguous alphabet, grouped for reading (≈ 59 bits each). */
export function newRecoveryCode(): string {
  const chars = Array.from({ length: 12 }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]).join('');
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`;
}

export const normalizeRecoveryCode = (code: string): string => code.trim().toLowerCase().replace(/[\s-]/g, '');
