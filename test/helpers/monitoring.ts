import type { TestApp } from './app';
import { gqlOk, type SignedIn } from './auth';

let seq = 0;

/** A partner with an `events:write` (and customers) token; INTERNAL partners may screen any customer. */
export async function partnerWithToken(t: TestApp, admin: SignedIn, trustLevel: 'INTERNAL' | 'EXTERNAL', scopes = ['events:write', 'customers:read', 'customers:write']): Promise<{ id: string; token: string }> {
  const p = await gqlOk<{ createPartner: { id: string } }>(
    t.gql,
    'mutation($i: CreatePartnerInput!) { createPartner(input: $i) { id } }',
    { i: { name: `Partner ${++seq}-${Date.now()}`, contactEmail: 'ops@partner.test', trustLevel, allowedScopes: scopes, agreementSignedAt: new Date(Date.now() - 86_400_000).toISOString(), agreementExpiresAt: new Date(Date.now() + 365 * 86_400_000).toISOString() } },
    admin.accessToken,
  );
  const tok = await gqlOk<{ issuePartnerToken: { token: string } }>(
    t.gql,
    'mutation($p: ID!, $s: [String!]!, $e: DateTime!) { issuePartnerToken(input: {partnerId: $p, name: "feed", scopes: $s, expiresAt: $e}) { token } }',
    // 30 days from now: never a fixed date that the calendar overtakes.
    { p: p.createPartner.id, s: scopes, e: new Date(Date.now() + 30 * 24 * 3600_000).toISOString() },
    admin.accessToken,
  );
  return { id: p.createPartner.id, token: tok.issuePartnerToken.token };
}

export const INGEST = 'mutation($e: [EventInput!]!) { ingestEvents(events: $e) { event { id } decision duplicate } }';

export interface IngestResult {
  event: { id: string } | null;
  decision: string | null;
  duplicate: boolean | null;
}

let key = 0;
export const newKey = () => `k-${Date.now()}-${++key}`;

/** Ingests events as a partner; returns the raw response so tests can look at per-index errors. */
export function ingest(t: TestApp, token: string, events: Array<Record<string, unknown>>) {
  return t.gql<{ ingestEvents: Array<IngestResult | null> }>(INGEST, { e: events.map((e) => ({ idempotencyKey: newKey(), occurredAt: new Date().toISOString(), ...e })) }, { token });
}
