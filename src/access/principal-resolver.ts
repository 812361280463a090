import type { Principal } from '../common/context/principal';

/** Turns an Authorization header into a principal; provided by the identity module. */
export const PRINCIPAL_RESOLVER = Symbol('PRINCIPAL_RESOLVER');

export interface PrincipalResolver {
  /**
   * `undefined` when there is no credential; throws UNAUTHENTICATED when a credential is present but invalid
   * (expired, revoked, tampered, suspended partner …).
   */
  resolve(authorization: string | undefined, client: { ip?: string; userAgent?: string }): Promise<Principal | undefined>;
}
