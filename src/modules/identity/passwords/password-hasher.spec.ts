import { Test } from '@nestjs/testing';
import * as argon2 from 'argon2';
import { ARGON2_PARAMS, ARGON2_PARAMS_OVERRIDES, PasswordHasher, parseArgon2Hash } from './password-hasher';

const PW = 'correct horse battery staple';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * The CPU time (ms, this process's threads, argon2's pool threads included) that `fn` costs. CPU time, not
 * wall time: the property is equal work, and wall time on a machine busy with other test workers measures
 * mostly the scheduler.
 */
async function cpuTimeOf(fn: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  await fn();
  const spent = process.cpuUsage(before);
  return (spent.user + spent.system) / 1000;
}

describe('PasswordHasher', () => {
  const hasher = new PasswordHasher();
  let stored: string;

  beforeAll(async () => {
    stored = await hasher.hash(PW);
  });

  it('uses the SPEC parameters', () => {
    expect(ARGON2_PARAMS).toEqual({ type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
    expect(hasher.params).toEqual(ARGON2_PARAMS);
  });

  it('stores an argon2id PHC string with m=19456,t=2,p=1', () => {
    expect(stored.startsWith('$argon2id$')).toBe(true);
    expect(stored).toMatch(/^\$argon2id\$v=19\$[^$]+\$[^$]+\$[^$]+$/);
    const params = Object.fromEntries(stored.split('$')[3].split(',').map((kv) => kv.split('=')));
    expect(params).toEqual({ m: '19456', t: '2', p: '1' });
    expect(parseArgon2Hash(stored)).toEqual({
      type: 'argon2id',
      version: 19,
      memoryCost: 19456,
      timeCost: 2,
      parallelism: 1,
    });
  });

  it('salts: two hashes of the same password differ', async () => {
    expect(await hasher.hash(PW)).not.toBe(stored);
  });

  it('verifies the right password and rejects a wrong one', async () => {
    await expect(hasher.verify(stored, PW)).resolves.toBe(true);
    await expect(hasher.verify(stored, PW + ' ')).resolves.toBe(false);
    await expect(hasher.verify(stored, '')).resolves.toBe(false);
  });

  it('returns false (never throws) for malformed hashes', async () => {
    for (const bad of ['', 'not-a-hash', '$argon2id$v=19$m=19456,t=2,p=1$', '$argon2id$v=19$m=19456,t=2$c2FsdHNhbHQ$aGFzaA', '$2b$10$abcdefghijklmnopqrstuv', stored.slice(0, -5) + '!!!!!']) {
      await expect(hasher.verify(bad, PW)).resolves.toBe(false);
    }
    await expect(hasher.verify(undefined as unknown as string, PW)).resolves.toBe(false);
  });

  describe('needsRehash', () => {
    it('is false for a hash with the current parameters', () => {
      expect(hasher.needsRehash(stored)).toBe(false);
    });

    it('is true for lower time cost (t=1)', async () => {
      const h = await argon2.hash(PW, { type: argon2.argon2id, memoryCost: 19456, timeCost: 1, parallelism: 1 });
      expect(hasher.needsRehash(h)).toBe(true);
      await expect(hasher.verify(h, PW)).resolves.toBe(true); // old hashes still verify
    });

    it('is true for lower memory cost (m=8192)', async () => {
      const h = await argon2.hash(PW, { type: argon2.argon2id, memoryCost: 8192, timeCost: 2, parallelism: 1 });
      expect(hasher.needsRehash(h)).toBe(true);
    });

    it('is true for argon2i / argon2d and for other parallelism', async () => {
      const i = await argon2.hash(PW, { type: argon2.argon2i, memoryCost: 19456, timeCost: 2, parallelism: 1 });
      const p2 = await argon2.hash(PW, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 2 });
      expect(hasher.needsRehash(i)).toBe(true);
      expect(hasher.needsRehash(p2)).toBe(true);
    });

    it('is false for stronger-than-current m/t, true for unparseable', async () => {
      const strong = await argon2.hash(PW, { type: argon2.argon2id, memoryCost: 32768, timeCost: 3, parallelism: 1 });
      expect(hasher.needsRehash(strong)).toBe(false);
      expect(hasher.needsRehash('garbage')).toBe(true);
      expect(hasher.needsRehash(strong.replace('t=3', 't=x'))).toBe(true);
    });

    it('becomes true once the parameters rise', () => {
      const stronger = new PasswordHasher({ timeCost: 3 });
      expect(stronger.needsRehash(stored)).toBe(true);
    });
  });

  describe('burnTime', () => {
    it('verifies against a dummy hash made once with the same parameters', async () => {
      const h = new PasswordHasher();
      const spy = jest.spyOn(h, 'verify');
      await expect(h.burnTime(PW)).resolves.toBe(false);
      await h.burnTime('other');
      expect(spy).toHaveBeenCalledTimes(2);
      const [dummy1] = spy.mock.calls[0];
      const [dummy2] = spy.mock.calls[1];
      expect(dummy1).toBe(dummy2);
      expect(parseArgon2Hash(dummy1)).toEqual(parseArgon2Hash(stored));
    });

    it('takes about as long as a real verify', async () => {
      await hasher.burnTime(PW); // computes the dummy hash
      await hasher.verify(stored, PW); // warm-up
      const real: number[] = [];
      const burn: number[] = [];
      for (let i = 0; i < 5; i++) {
        real.push(await cpuTimeOf(() => hasher.verify(stored, 'wrong password here')));
        burn.push(await cpuTimeOf(() => hasher.burnTime('wrong password here')));
      }
      const ratio = median(burn) / median(real);
      // The same work: only measurement noise should differ.
      expect(ratio).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(2);
    });
  });

  it('is injectable by Nest, with optional parameter overrides', async () => {
    const plain = await Test.createTestingModule({ providers: [PasswordHasher] }).compile();
    expect(plain.get(PasswordHasher).params).toEqual(ARGON2_PARAMS);
    const tuned = await Test.createTestingModule({
      providers: [PasswordHasher, { provide: ARGON2_PARAMS_OVERRIDES, useValue: { memoryCost: 65536 } }],
    }).compile();
    expect(tuned.get(PasswordHasher).params).toEqual({ ...ARGON2_PARAMS, memoryCost: 65536 });
  });
});
