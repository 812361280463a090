import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { lengthPrefixed } from './aad';
import { DecryptionError } from './crypto.errors';
import type { KeyRing } from './key-ring';

/**
 * Envelope encryption with AES-256-GCM. Each owner (a customer, a staff user) has a random data key (DEK);
 * the DEK is stored wrapped under a versioned key-encryption key (KEK) from PII_KEYS. Destroying the
 * wrapped DEK shreds everything encrypted under it; rotating a KEK only rewraps 32-byte DEKs, never data.
 */

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Format tag of encrypted values, so a later format can be introduced and told apart. */
const VALUE_FORMAT = 'e1';

// Domain labels keep a wrapped key and a value from ever sharing AAD, even under the same key.
const WRAP_DOMAIN = 'custos:dek-wrap:1';
const VALUE_DOMAIN = `custos:value:${VALUE_FORMAT}`;

export interface DataKeyContext {
  /** Whose key this is, e.g. `customer:<uuid>` or `user:<uuid>`; see {@link dataKeyOwner}. */
  owner: string;
}

/** Where an encrypted value lives. Bound into the AAD, so a ciphertext moved elsewhere fails to decrypt. */
export interface ValueAad {
  table: string;
  column: string;
  rowId: string;
}

export interface RewrapResult {
  wrapped: string;
  /** False when the key was already under the active version and `wrapped` is the input unchanged. */
  changed: boolean;
}

/** The one spelling of data-key owners, so the customer and identity modules cannot drift apart. */
export const dataKeyOwner = {
  customer: (customerId: string): string => `customer:${customerId}`,
  user: (userId: string): string => `user:${userId}`,
  /** An alert without a customer seals its notes under a key of its own. */
  alert: (alertId: string): string => `alert:${alertId}`,
};

export function generateDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Wraps a DEK under the active KEK: `"<kekVersion>:<base64url(iv | tag | ciphertext)>"`. */
export function wrapDataKey(ring: KeyRing, dek: Buffer, context: DataKeyContext): string {
  assertKey(dek, 'data key');
  const version = ring.active;
  const { iv, tag, ciphertext } = seal(ring.get(version), dek, wrapAad(version, context));
  return `${version}:${Buffer.concat([iv, tag, ciphertext]).toString('base64url')}`;
}

export function unwrapDataKey(ring: KeyRing, wrapped: string, context: DataKeyContext): Buffer {
  const { version, body } = parseWrapped(wrapped);
  const kek = ring.get(version);
  if (body.length !== IV_BYTES + TAG_BYTES + KEY_BYTES) throw new DecryptionError('Wrapped data key is malformed');
  const iv = body.subarray(0, IV_BYTES);
  const tag = body.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
  return open(kek, iv, tag, body.subarray(IV_BYTES + TAG_BYTES), wrapAad(version, context));
}

/**
 * Moves a wrapped DEK to the active KEK version. It always unwraps first, so a rotation run also proves
 * every key it passes over still opens for its owner.
 */
export function rewrapDataKey(ring: KeyRing, wrapped: string, context: DataKeyContext): RewrapResult {
  const dek = unwrapDataKey(ring, wrapped, context);
  if (parseWrapped(wrapped).version === ring.active) return { wrapped, changed: false };
  return { wrapped: wrapDataKey(ring, dek, context), changed: true };
}

/** The KEK version a wrapped key names, e.g. for a resumable rotation to skip rows already on the active one. */
export function wrappedKeyVersion(wrapped: string): string {
  return parseWrapped(wrapped).version;
}

/** Encrypts one value with a fresh random IV: `"e1.<iv>.<tag>.<ciphertext>"`, each part base64url. */
export function encryptValue(dek: Buffer, plaintext: string, aad: ValueAad): string {
  assertKey(dek, 'data key');
  if (typeof plaintext !== 'string') throw new TypeError('encryptValue expects a string plaintext');
  const { iv, tag, ciphertext } = seal(dek, Buffer.from(plaintext, 'utf8'), valueAad(aad));
  return [VALUE_FORMAT, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
}

export function decryptValue(dek: Buffer, ciphertext: string, aad: ValueAad): string {
  if (typeof ciphertext !== 'string') throw new DecryptionError('Encrypted value is not a string');
  const parts = ciphertext.split('.');
  if (parts.length !== 4 || parts[0] !== VALUE_FORMAT) throw new DecryptionError('Encrypted value has an unknown format');
  const iv = decodeBase64Url(parts[1]);
  const tag = decodeBase64Url(parts[2]);
  const body = decodeBase64Url(parts[3]);
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new DecryptionError('Encrypted value is malformed');
  return open(dek, iv, tag, body, valueAad(aad)).toString('utf8');
}

export function encryptNullable(dek: Buffer, plaintext: string | null | undefined, aad: ValueAad): string | null {
  return plaintext == null ? null : encryptValue(dek, plaintext, aad);
}

export function decryptNullable(dek: Buffer, ciphertext: string | null | undefined, aad: ValueAad): string | null {
  return ciphertext == null ? null : decryptValue(dek, ciphertext, aad);
}

function seal(key: Buffer, plaintext: Buffer, aad: Buffer): { iv: Buffer; tag: Buffer; ciphertext: Buffer } {
  // A random 96-bit IV per value; with one DEK per owner the number of values under a key stays far below
  // the ~2^32 at which random GCM nonces become a concern.
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

function open(key: Buffer, iv: Buffer, tag: Buffer, ciphertext: Buffer, aad: Buffer): Buffer {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) throw new DecryptionError('Decryption key is not a 32-byte key');
  try {
    const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    // OpenSSL's reason ("unable to authenticate data") adds nothing a caller may act on.
    throw new DecryptionError();
  }
}

function wrapAad(version: string, context: DataKeyContext): Buffer {
  return lengthPrefixed([WRAP_DOMAIN, version, requireText(context?.owner, 'data key owner')]);
}

function valueAad(aad: ValueAad): Buffer {
  // An empty row id usually means the row's id was not assigned yet: refuse rather than bind to nothing.
  return lengthPrefixed([
    VALUE_DOMAIN,
    requireText(aad?.table, 'AAD table'),
    requireText(aad?.column, 'AAD column'),
    requireText(aad?.rowId, 'AAD row id'),
  ]);
}

function parseWrapped(wrapped: string): { version: string; body: Buffer } {
  const match = typeof wrapped === 'string' ? /^([A-Za-z0-9._-]{1,32}):([A-Za-z0-9_-]+)$/.exec(wrapped) : null;
  if (!match) throw new DecryptionError('Wrapped data key is malformed');
  return { version: match[1], body: decodeBase64Url(match[2]) };
}

/**
 * Node's decoder skips characters it does not know and ignores a dangling partial group; insisting on the
 * canonical encoding makes every ciphertext have exactly one accepted spelling.
 */
function decodeBase64Url(text: string): Buffer {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw new DecryptionError('Encrypted value is malformed');
  return bytes;
}

function assertKey(key: Buffer, what: string): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) throw new TypeError(`${what} must be a ${KEY_BYTES}-byte Buffer`);
}

function requireText(value: string | undefined, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${what} must be a non-empty string`);
  return value;
}
