/**
 * Internal crypto failures. None of them is shown to API clients, and none carries a plaintext, a key or a
 * ciphertext in its message, so they are safe to log.
 */
export class CryptoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * A value or wrapped key did not authenticate: tampered, truncated, moved to another row or owner, or opened
 * with the wrong key. Deliberately says no more, so it cannot be used as an oracle.
 */
export class DecryptionError extends CryptoError {
  constructor(message = 'Encrypted value failed to authenticate') {
    super(message);
  }
}

/** A wrapped key names a key-encryption key that is not configured (removed from PII_KEYS too early). */
export class KeyVersionMissingError extends CryptoError {
  constructor(
    readonly version: string,
    known: readonly string[],
  ) {
    super(`PII key version "${version}" is not configured in PII_KEYS (configured: ${known.join(', ') || 'none'})`);
  }
}

/**
 * A PII value cannot be normalised for a blind index (e.g. a phone number that is not E.164). The caller
 * turns it into BAD_USER_INPUT at the input path; the message names the field, never the value.
 */
export class InvalidPiiValueError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field} ${reason}`);
    this.name = 'InvalidPiiValueError';
  }
}
