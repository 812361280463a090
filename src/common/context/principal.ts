/** Staff roles (SPEC §4). */
export enum Role {
  ADMIN = 'ADMIN',
  COMPLIANCE_OFFICER = 'COMPLIANCE_OFFICER',
  ANALYST = 'ANALYST',
  AGENT = 'AGENT',
  ACCOUNT_MANAGER = 'ACCOUNT_MANAGER',
  AUDITOR = 'AUDITOR',
}

export enum TrustLevel {
  EXTERNAL = 'EXTERNAL',
  INTERNAL = 'INTERNAL',
}

/** Scopes a partner token may carry; a token's scopes ⊆ its partner's allowed scopes. */
export const PARTNER_SCOPES = [
  'customers:read',
  'customers:write',
  'events:write',
  'complaints:read',
  'complaints:write',
  'verifications:write',
] as const;
export type PartnerScope = (typeof PARTNER_SCOPES)[number];

export interface StaffPrincipal {
  kind: 'USER';
  userId: string;
  role: Role;
  sessionId: string;
  /** PII step-up is valid until this instant (stepUp mutation), if at all. */
  stepUpUntil: Date | null;
  /** When the credential stops being valid (the access token's or the session's end, the earlier); absent when unknown. */
  validUntil?: Date;
}

export interface PartnerPrincipal {
  kind: 'PARTNER';
  partnerId: string;
  tokenId: string;
  trustLevel: TrustLevel;
  /** Effective scopes: the token's, narrowed by what the partner is allowed now. */
  scopes: PartnerScope[];
  /**
   * The partner's own events-per-minute limit (null: the trust level's default), read with the token so
   * that ingestion need not read the partner again; absent when the principal was made another way.
   */
  eventsPerMinute?: number | null;
  /** When the credential stops being valid (the token's or the partner agreement's end, the earlier); absent when unknown. */
  validUntil?: Date;
}

export type Principal = StaffPrincipal | PartnerPrincipal;

export const isStaff = (p: Principal | undefined | null): p is StaffPrincipal => p?.kind === 'USER';
export const isPartner = (p: Principal | undefined | null): p is PartnerPrincipal => p?.kind === 'PARTNER';
