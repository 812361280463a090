import { createSecretKey, type KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import jwt from 'jsonwebtoken';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
const ISSUER = 'custos';
const AUDIENCE = 'custos-api';

export interface AccessClaims {
  sub: string;
  sid: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

/**
 * Access tokens are HS256 JWTs signed with TOKEN_SECRET. Verification pins the algorithm (no `none`, no
 * algorithm confusion), issuer, audience and expiry; the session they name is still checked in the database
 * on every request, so revocation is immediate.
 */
@Injectable()
export class AccessTokenService {
  /**
   * A KeyObject made once: given a raw Buffer, jsonwebtoken first tries (and fails) to parse it as a public
   * key on every verify, which cost ~2 ms of CPU per request.
   */
  private readonly key: KeyObject;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.key = createSecretKey(config.keys.token);
  }

  issue(userId: string, sessionId: string): { token: string; expiresAt: Date } {
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + ACCESS_TOKEN_TTL_SECONDS) * 1000);
    const token = jwt.sign({ sid: sessionId, typ: 'access' }, this.key, {
      algorithm: 'HS256',
      subject: userId,
      issuer: ISSUER,
      audience: AUDIENCE,
      expiresIn: ACCESS_TOKEN_TTL_SECONDS,
    });
    return { token, expiresAt };
  }

  /** The claims of a valid token, or null for anything expired, tampered, unsigned or malformed. */
  verify(token: string): AccessClaims | null {
    try {
      const claims = jwt.verify(token, this.key, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE }) as jwt.JwtPayload;
      if (claims.typ !== 'access' || typeof claims.sub !== 'string' || typeof claims.sid !== 'string' || typeof claims.exp !== 'number') return null;
      return { sub: claims.sub, sid: claims.sid, exp: claims.exp };
    } catch {
      return null;
    }
  }
}
