import { Inject, Injectable, Optional, type OnModuleInit } from '@nestjs/common';
import * as argon2 from 'argon2';

/** Argon2 parameters accepted by {@link PasswordHasher}. */
export interface Argon2Params {
  type: typeof argon2.argon2id;
  /** Memory in KiB. */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** SPEC: argon2id, m ≥ 19456 KiB, t ≥ 2, p = 1. */
export const ARGON2_PARAMS: Readonly<Argon2Params> = Object.freeze({
  type: argon2.argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
});

/** Optional provider token: partial overrides of {@link ARGON2_PARAMS} (e.g. cheaper params in tests). */
export const ARGON2_PARAMS_OVERRIDES = Symbol('ARGON2_PARAMS_OVERRIDES');

/** Decoded header of a PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash`. */
export interface Argon2HashInfo {
  type: 'argon2d' | 'argon2i' | 'argon2id';
  version: number;
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

const PHC_RE = /^\$(argon2(?:id|i|d))\$(?:v=(\d+)\$)?([a-z]+=[^$,]*(?:,[a-z]+=[^$,]*)*)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/**
 * Parses an argon2 PHC string; null when it is not one. Parameter order is not fixed
 * (argon2 0.45 writes `m=…,p=…,t=…`), so they are read as key=value pairs.
 */
export function parseArgon2Hash(hash: string): Argon2HashInfo | null {
  if (typeof hash !== 'string') return null;
  const match = PHC_RE.exec(hash);
  if (!match) return null;
  const params = new Map<string, string>();
  for (const pair of match[3].split(',')) {
    const eq = pair.indexOf('=');
    params.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const num = (key: string): number | null => {
    const v = params.get(key);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
  };
  const memoryCost = num('m');
  const timeCost = num('t');
  const parallelism = num('p');
  if (memoryCost === null || timeCost === null || parallelism === null) return null;
  return {
    type: match[1] as Argon2HashInfo['type'],
    version: match[2] === undefined ? 0x10 : Number(match[2]),
    memoryCost,
    timeCost,
    parallelism,
  };
}

/**
 * Hashes and verifies passwords with argon2id.
 * `verify` never throws; `burnTime` costs the same as a real verify, for unknown users.
 */
@Injectable()
export class PasswordHasher implements OnModuleInit {
  /** Computed at start so the first unknown-account sign-in costs what every later one does. */
  async onModuleInit(): Promise<void> {
    await this.getDummyHash();
  }

  readonly params: Readonly<Argon2Params>;
  private dummyHash?: Promise<string>;

  constructor(
    @Optional() @Inject(ARGON2_PARAMS_OVERRIDES) overrides?: Partial<Omit<Argon2Params, 'type'>>,
  ) {
    const defined = Object.fromEntries(Object.entries(overrides ?? {}).filter(([, v]) => v !== undefined));
    this.params = Object.freeze({ ...ARGON2_PARAMS, ...defined, type: argon2.argon2id });
  }

  hash(password: string): Promise<string> {
    return argon2.hash(password, { ...this.params });
  }

  /** True only when `password` matches `hash`; false for a wrong password or a malformed hash. */
  async verify(hash: string, password: string): Promise<boolean> {
    if (typeof hash !== 'string' || parseArgon2Hash(hash) === null) return false;
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  }

  /**
   * True when the stored hash should be replaced on the next successful login: not argon2id,
   * an older argon2 version, memory or time cost below the current ones, a different
   * parallelism (the SPEC fixes p = 1), or unparseable. Higher m/t than current are kept.
   * (argon2.needsRehash in 0.45 compares for inequality, ignores the type and throws on bad input.)
   */
  needsRehash(hash: string): boolean {
    const info = parseArgon2Hash(hash);
    if (!info) return true;
    return (
      info.type !== 'argon2id' ||
      info.version < 0x13 ||
      info.memoryCost < this.params.memoryCost ||
      info.timeCost < this.params.timeCost ||
      info.parallelism !== this.params.parallelism
    );
  }

  /**
   * Spends the time of one real verify (same parameters) and returns false.
   * Call it when the user is unknown so the response time does not reveal that.
   */
  async burnTime(password: string): Promise<false> {
    await this.verify(await this.getDummyHash(), password);
    return false;
  }

  /** The fixed dummy hash, computed once with the current parameters. */
  getDummyHash(): Promise<string> {
    if (!this.dummyHash) {
      const pending = this.hash('custos-timing-equaliser-dummy-password');
      pending.catch(() => {
        if (this.dummyHash === pending) this.dummyHash = undefined;
      });
      this.dummyHash = pending;
    }
    return this.dummyHash;
  }
}
