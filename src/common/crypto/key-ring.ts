import type { AppConfig } from '../../config/config';
import { KeyVersionMissingError } from './crypto.errors';

const KEK_BYTES = 32;

/**
 * The versioned key-encryption keys from PII_KEYS. New data keys are wrapped under `active`; any configured
 * version still unwraps, so a rotation can proceed in batches while old wraps keep working.
 */
export class KeyRing {
  private readonly keys: ReadonlyMap<string, Buffer>;

  constructor(
    keys: ReadonlyMap<string, Buffer>,
    readonly active: string,
  ) {
    for (const [version, key] of keys) {
      // The version is the prefix of every wrapped key, up to the first ':'.
      if (!/^[A-Za-z0-9._-]{1,32}$/.test(version)) throw new Error(`PII key version "${version}" is not a valid label`);
      if (key.length !== KEK_BYTES) throw new Error(`PII key ${version} must be ${KEK_BYTES} bytes, not ${key.length}`);
    }
    this.keys = new Map(keys);
    if (!this.keys.has(active)) throw new KeyVersionMissingError(active, [...this.keys.keys()]);
  }

  static fromConfig(keys: AppConfig['keys']): KeyRing {
    return new KeyRing(keys.pii, keys.piiActive);
  }

  get versions(): string[] {
    return [...this.keys.keys()];
  }

  has(version: string): boolean {
    return this.keys.has(version);
  }

  get(version: string): Buffer {
    const key = this.keys.get(version);
    if (!key) throw new KeyVersionMissingError(version, this.versions);
    return key;
  }

  get activeKey(): Buffer {
    return this.get(this.active);
  }
}
