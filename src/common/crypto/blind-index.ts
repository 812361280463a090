import { createHmac } from 'node:crypto';
import { lengthPrefixed } from './aad';
import { InvalidPiiValueError } from './crypto.errors';

/**
 * Blind indexes: a keyed HMAC-SHA-256 over a normalised value allows exact lookup of an encrypted column
 * without storing the value. Keyed, because a bare hash of an e-mail or a phone number is reversed by
 * enumeration; normalised, because "Alice@Example.com " and "alice@example.com" must find the same row.
 */

export type BlindIndexField = 'email' | 'phone' | 'nationalId';

const DOMAIN = 'custos:blind-index:1';

const E164 = /^\+[1-9]\d{6,14}$/;

export function isE164(value: string): boolean {
  return typeof value === 'string' && E164.test(value);
}

/** Trimmed and lower-cased (NFC first, so composed and decomposed accents agree). */
export function normaliseEmail(value: string): string {
  const normalised = requireString(value, 'email').normalize('NFC').trim().toLowerCase();
  if (normalised.length === 0) throw new InvalidPiiValueError('email', 'must not be empty');
  return normalised;
}

/** Strips spaces, dashes, dots and parentheses; the result must be E.164 (`+` country code, 7–15 digits). */
export function normalisePhone(value: string): string {
  const normalised = requireString(value, 'phone').replace(/[\s\-.()]/g, '');
  if (!E164.test(normalised)) {
    throw new InvalidPiiValueError('phone', 'must be an international number in E.164 form (+, country code, 7 to 15 digits in all)');
  }
  return normalised;
}

/** Upper-cased with all whitespace and dashes removed, so "ab 12-34" and "AB1234" match. */
export function normaliseNationalId(value: string): string {
  const normalised = requireString(value, 'nationalId').normalize('NFC').replace(/[\s-]/g, '').toUpperCase();
  if (normalised.length === 0) throw new InvalidPiiValueError('nationalId', 'must not be empty');
  return normalised;
}

const NORMALISERS: Record<BlindIndexField, (value: string) => string> = {
  email: normaliseEmail,
  phone: normalisePhone,
  nationalId: normaliseNationalId,
};

export function normaliseForIndex(field: BlindIndexField, value: string): string {
  const normalise = NORMALISERS[field];
  if (!normalise) throw new TypeError(`No blind index is defined for field "${String(field)}"`);
  return normalise(value);
}

/**
 * Hex HMAC-SHA-256 of the normalised value. The field name is part of the MAC input, so the same string as
 * an e-mail and as a phone gives unrelated digests and one column's index cannot be probed with another's.
 */
export function blindIndex(key: Buffer, field: BlindIndexField, value: string): string {
  if (!Buffer.isBuffer(key) || key.length < 32) throw new TypeError('blind index key must be at least 32 bytes');
  const normalised = normaliseForIndex(field, value);
  return createHmac('sha256', key).update(lengthPrefixed([DOMAIN, field, normalised])).digest('hex');
}

function requireString(value: string, field: string): string {
  if (typeof value !== 'string') throw new InvalidPiiValueError(field, 'must be a string');
  return value;
}
