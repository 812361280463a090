import { Test } from '@nestjs/testing';
import { randomBytes } from 'node:crypto';
import type { AppConfig } from '../../config/config';
import { ConfigModule } from '../../config/config.module';
import { CryptoModule } from './crypto.module';
import { DecryptionError, InvalidPiiValueError } from './crypto.errors';
import { dataKeyOwner, unwrapDataKey } from './envelope';
import { KeyRing } from './key-ring';
import { PiiVault } from './pii-vault.service';

function configWith(pii: Map<string, Buffer>, piiActive: string, blindIndex = randomBytes(32)): AppConfig {
  return { keys: { pii, piiActive, blindIndex, token: randomBytes(32), auditChain: randomBytes(32) } } as AppConfig;
}

describe('PiiVault', () => {
  const v1 = randomBytes(32);
  const v2 = randomBytes(32);
  const alice = dataKeyOwner.customer('0d5f7c1e-2b3a-4c5d-8e9f-a0b1c2d3e4f5');
  const bob = dataKeyOwner.customer('0d5f7c1e-2b3a-4c5d-8e9f-a0b1c2d3e4f6');
  const aad = { table: 'customers', column: 'full_name', rowId: '0d5f7c1e-2b3a-4c5d-8e9f-a0b1c2d3e4f5' };

  it('is provided globally by CryptoModule', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(configWith(new Map([['v1', v1]]), 'v1')), CryptoModule],
    }).compile();
    const vault = moduleRef.get(PiiVault);
    expect(vault).toBeInstanceOf(PiiVault);
    expect(vault.activeKeyVersion).toBe('v1');
  });

  it('creates, opens and uses an owner\'s data key', () => {
    const vault = new PiiVault(configWith(new Map([['v1', v1]]), 'v1'));
    const { dek, wrapped } = vault.newDataKey(alice);
    const ciphertext = vault.encrypt(dek, 'Alice Martin', aad);

    const fresh = new PiiVault(configWith(new Map([['v1', v1]]), 'v1'));
    const opened = fresh.openDataKey(wrapped, alice);
    expect(opened.equals(dek)).toBe(true);
    expect(fresh.decrypt(opened, ciphertext, aad)).toBe('Alice Martin');
    expect(fresh.encryptNullable(opened, null, aad)).toBeNull();
    expect(fresh.decryptNullable(opened, fresh.encryptNullable(opened, 'x', aad), aad)).toBe('x');
  });

  it('does not serve a cached key to another owner', () => {
    const vault = new PiiVault(configWith(new Map([['v1', v1]]), 'v1'));
    const { wrapped } = vault.newDataKey(alice);
    vault.openDataKey(wrapped, alice);
    expect(() => vault.openDataKey(wrapped, bob)).toThrow(DecryptionError);
  });

  it('hands out copies, so wiping a returned key does not wipe the cache', () => {
    const vault = new PiiVault(configWith(new Map([['v1', v1]]), 'v1'));
    const { dek, wrapped } = vault.newDataKey(alice);
    const original = Buffer.from(dek);
    vault.openDataKey(wrapped, alice).fill(0);
    dek.fill(0);
    expect(vault.openDataKey(wrapped, alice).equals(original)).toBe(true);
  });

  it('serves repeated opens from the cache, and forget() drops the key', () => {
    const vault = new PiiVault(configWith(new Map([['v1', v1]]), 'v1'));
    const { wrapped } = vault.newDataKey(alice);
    const ring = (vault as unknown as { ring: KeyRing }).ring;
    const spy = jest.spyOn(ring, 'get');
    vault.openDataKey(wrapped, alice);
    vault.openDataKey(wrapped, alice);
    expect(spy).not.toHaveBeenCalled();
    vault.forget(wrapped);
    vault.openDataKey(wrapped, alice);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('never caches a forgotten key again: a late reader still opens it, but each open unwraps anew', () => {
    const vault = new PiiVault(configWith(new Map([['v1', v1]]), 'v1'));
    const { dek, wrapped } = vault.newDataKey(alice);
    const other = vault.newDataKey(bob);
    vault.forget(wrapped);
    const ring = (vault as unknown as { ring: KeyRing }).ring;
    const spy = jest.spyOn(ring, 'get');
    expect(vault.openDataKey(wrapped, alice).equals(dek)).toBe(true);
    expect(vault.openDataKey(wrapped, alice).equals(dek)).toBe(true);
    expect(spy).toHaveBeenCalledTimes(2);
    // Other keys are cached as before.
    vault.openDataKey(other.wrapped, bob);
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('rewraps v1 keys under v2 once v2 is active', () => {
    const before = new PiiVault(configWith(new Map([['v1', v1]]), 'v1'));
    const { dek, wrapped } = before.newDataKey(alice);

    const after = new PiiVault(configWith(new Map([['v1', v1], ['v2', v2]]), 'v2'));
    expect(after.needsRewrap(wrapped)).toBe(true);
    expect(after.openDataKey(wrapped, alice).equals(dek)).toBe(true);
    const moved = after.rewrap(wrapped, alice);
    expect(moved.changed).toBe(true);
    expect(moved.wrapped.startsWith('v2:')).toBe(true);
    expect(after.needsRewrap(moved.wrapped)).toBe(false);
    expect(unwrapDataKey(new KeyRing(new Map([['v2', v2]]), 'v2'), moved.wrapped, { owner: alice }).equals(dek)).toBe(true);
    expect(after.rewrap(moved.wrapped, alice)).toEqual({ wrapped: moved.wrapped, changed: false });
  });

  it('computes blind indexes with the configured key', () => {
    const key = randomBytes(32);
    const vault = new PiiVault(configWith(new Map([['v1', v1]]), 'v1', key));
    const other = new PiiVault(configWith(new Map([['v1', v1]]), 'v1'));
    expect(vault.blindIndex('email', ' Alice@Example.COM ')).toBe(vault.blindIndex('email', 'alice@example.com'));
    expect(vault.blindIndex('email', 'alice@example.com')).not.toBe(other.blindIndex('email', 'alice@example.com'));
    expect(() => vault.blindIndex('phone', '12345')).toThrow(InvalidPiiValueError);
  });
});
