import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { blindIndex, type BlindIndexField } from './blind-index';
import { BoundedLru } from './bounded-lru';
import {
  decryptNullable,
  decryptValue,
  encryptNullable,
  encryptValue,
  generateDataKey,
  rewrapDataKey,
  unwrapDataKey,
  wrapDataKey,
  wrappedKeyVersion,
  type RewrapResult,
  type ValueAad,
} from './envelope';
import { KeyRing } from './key-ring';

/** Unwrapped data keys kept in memory; enough for a page of customers and the staff signed in. */
const DEK_CACHE_SIZE = 1000;
/** How many destroyed keys the vault remembers never to cache again (a wrapped key is ~100 bytes). */
const FORGOTTEN_KEYS_REMEMBERED = 10_000;

interface CachedKey {
  owner: string;
  dek: Buffer;
}

/**
 * The one entry point for PII encryption: data keys per owner (`dataKeyOwner.customer(id)`,
 * `dataKeyOwner.user(id)`), value encryption bound to table, column and row, and blind indexes.
 */
@Injectable()
export class PiiVault {
  private readonly ring: KeyRing;
  private readonly blindIndexKey: Buffer;
  // Keyed by the wrapped string alone: a wrapped key opens for exactly one owner, and the owner is checked
  // on every hit, so a lookup with another owner falls through to a real (failing) unwrap.
  private readonly cache = new BoundedLru<string, CachedKey>(DEK_CACHE_SIZE);
  // Keys destroyed (erasure, a webhook's retired secret, a rewrap) are never cached again: a request that
  // read the row before the change committed may still open the old key after it was forgotten.
  private readonly forgotten = new BoundedLru<string, true>(FORGOTTEN_KEYS_REMEMBERED);

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.ring = KeyRing.fromConfig(config.keys);
    this.blindIndexKey = config.keys.blindIndex;
  }

  get activeKeyVersion(): string {
    return this.ring.active;
  }

  /** A fresh data key for a new owner; store `wrapped`, use `dek` for this request's writes. */
  newDataKey(owner: string): { dek: Buffer; wrapped: string } {
    const dek = generateDataKey();
    const wrapped = wrapDataKey(this.ring, dek, { owner });
    this.remember(wrapped, owner, dek);
    return { dek, wrapped };
  }

  openDataKey(wrapped: string, owner: string): Buffer {
    const hit = this.cache.get(wrapped);
    // A copy, so a caller that wipes its key after use cannot wipe the cached one.
    if (hit && hit.owner === owner) return Buffer.from(hit.dek);
    const dek = unwrapDataKey(this.ring, wrapped, { owner });
    this.remember(wrapped, owner, dek);
    return dek;
  }

  /** Rewraps under the active KEK version (`keys:rotate`); store the result when `changed`. */
  rewrap(wrapped: string, owner: string): RewrapResult {
    const result = rewrapDataKey(this.ring, wrapped, { owner });
    if (result.changed) {
      const hit = this.cache.get(wrapped);
      this.cache.delete(wrapped);
      if (hit?.owner === owner) this.remember(result.wrapped, owner, hit.dek);
    }
    return result;
  }

  /** Whether a stored wrapped key still needs rewrapping, without unwrapping it. */
  needsRewrap(wrapped: string): boolean {
    return wrappedKeyVersion(wrapped) !== this.ring.active;
  }

  /** Drops a cached key, so an erased owner's data cannot be read from memory after its key is destroyed. */
  forget(wrapped: string): void {
    this.cache.delete(wrapped);
    this.forgotten.set(wrapped, true);
  }

  encrypt(dek: Buffer, value: string, aad: ValueAad): string {
    return encryptValue(dek, value, aad);
  }

  decrypt(dek: Buffer, value: string, aad: ValueAad): string {
    return decryptValue(dek, value, aad);
  }

  encryptNullable(dek: Buffer, value: string | null | undefined, aad: ValueAad): string | null {
    return encryptNullable(dek, value, aad);
  }

  decryptNullable(dek: Buffer, value: string | null | undefined, aad: ValueAad): string | null {
    return decryptNullable(dek, value, aad);
  }

  /** Throws `InvalidPiiValueError` when the value cannot be normalised (e.g. a phone that is not E.164). */
  blindIndex(field: BlindIndexField, value: string): string {
    return blindIndex(this.blindIndexKey, field, value);
  }

  private remember(wrapped: string, owner: string, dek: Buffer): void {
    if (this.forgotten.get(wrapped)) return;
    this.cache.set(wrapped, { owner, dek: Buffer.from(dek) });
  }
}
