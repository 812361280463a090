import { createHmac, timingSafeEqual } from 'node:crypto';
import { lengthPrefixed } from './aad';

const DOMAIN = 'custos:digest:1';
const HEX = /^(?:[0-9a-f]{2})+$/i;

/**
 * Hex HMAC-SHA-256 of a secret such as a recovery code, a challenge code or a token, so the database holds
 * only a digest. `purpose` separates domains: a recovery code's digest never verifies as a challenge code's.
 */
export function keyedDigest(key: Buffer, purpose: string, value: string): string {
  if (!Buffer.isBuffer(key) || key.length < 32) throw new TypeError('digest key must be at least 32 bytes');
  if (typeof purpose !== 'string' || purpose.length === 0) throw new TypeError('digest purpose must be a non-empty string');
  if (typeof value !== 'string') throw new TypeError('digest value must be a string');
  return createHmac('sha256', key).update(lengthPrefixed([DOMAIN, purpose, value])).digest('hex');
}

/**
 * Compares two hex digests in time independent of where they differ. Lengths are compared first (digests
 * have a fixed, public length); anything empty or not hex is unequal, so a missing digest never matches.
 */
export function constantTimeEqualHex(a: string, b: string): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  if (!HEX.test(a) || !HEX.test(b) || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}
