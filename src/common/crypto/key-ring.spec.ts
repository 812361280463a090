import { randomBytes } from 'node:crypto';
import type { AppConfig } from '../../config/config';
import { KeyVersionMissingError } from './crypto.errors';
import { KeyRing } from './key-ring';

describe('KeyRing', () => {
  const v1 = randomBytes(32);
  const v2 = randomBytes(32);

  it('exposes the active version, every configured version and their keys', () => {
    const keys = { pii: new Map([['v1', v1], ['v2', v2]]), piiActive: 'v2' } as AppConfig['keys'];
    const ring = KeyRing.fromConfig(keys);
    expect(ring.active).toBe('v2');
    expect(ring.versions).toEqual(['v1', 'v2']);
    expect(ring.get('v1')).toBe(v1);
    expect(ring.activeKey).toBe(v2);
    expect(ring.has('v3')).toBe(false);
  });

  it('names the missing version and the configured ones', () => {
    const ring = new KeyRing(new Map([['v1', v1]]), 'v1');
    expect(() => ring.get('v7')).toThrow(KeyVersionMissingError);
    expect(() => ring.get('v7')).toThrow('PII key version "v7" is not configured in PII_KEYS (configured: v1)');
  });

  it('refuses an active version that is not configured, and keys that are not 32 bytes', () => {
    expect(() => new KeyRing(new Map([['v1', v1]]), 'v2')).toThrow(KeyVersionMissingError);
    expect(() => new KeyRing(new Map([['v1', randomBytes(16)]]), 'v1')).toThrow('must be 32 bytes');
    expect(() => new KeyRing(new Map([['v:1', v1]]), 'v:1')).toThrow('not a valid label');
  });

  it('is not affected by later changes to the map it was built from', () => {
    const map = new Map([['v1', v1]]);
    const ring = new KeyRing(map, 'v1');
    map.delete('v1');
    expect(ring.get('v1')).toBe(v1);
  });
});
