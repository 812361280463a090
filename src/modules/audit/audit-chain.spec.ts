import { canonicalJson, chainHash, fromDbRow, GENESIS_HASH, type AuditDbRow, type AuditRow } from './audit-chain';

const row: AuditRow = {
  id: '7', occurredAt: '2026-01-02T03:04:05.678Z', actorType: 'USER', actorId: 'u', role: 'AUDITOR', partnerId: null, sessionId: null,
  ip: '10.0.0.1', userAgent: 'ua', requestId: 'r', action: 'audit.query', resourceType: null, resourceId: null, customerId: null,
  fields: ['email'], outcome: 'SUCCESS', details: { b: 1, a: { d: [1, 2], c: null } },
};

describe('audit chain primitives', () => {
  it('serialises objects with sorted keys at every level, so jsonb round-trips hash the same', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: null } })).toBe('{"a":{"c":null,"d":[1,2]},"b":1}');
    expect(canonicalJson({ a: undefined, b: 'x' })).toBe('{"b":"x"}');
  });

  it('keys the hash: another key, another link or any changed column gives another hash', () => {
    const key = Buffer.alloc(32, 1);
    const hash = chainHash(key, GENESIS_HASH, row);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(chainHash(key, GENESIS_HASH, { ...row, details: { a: { c: null, d: [1, 2] }, b: 1 } })).toBe(hash);
    expect(chainHash(Buffer.alloc(32, 2), GENESIS_HASH, row)).not.toBe(hash);
    expect(chainHash(key, 'f'.repeat(64), row)).not.toBe(hash);
    for (const change of [{ id: '8' }, { ip: '10.0.0.2' }, { fields: ['phone'] }, { outcome: 'DENIED' }, { details: { b: 2 } }, { actorId: null }]) {
      expect(chainHash(key, GENESIS_HASH, { ...row, ...change })).not.toBe(hash);
    }
  });

  it('rebuilds the hashed form from a stored row', () => {
    const stored: AuditDbRow = {
      id: '7', occurred_at: new Date(row.occurredAt), actor_type: 'USER', actor_id: 'u', role: 'AUDITOR', partner_id: null, session_id: null,
      ip: '10.0.0.1', user_agent: 'ua', request_id: 'r', action: 'audit.query', resource_type: null, resource_id: null, customer_id: null,
      fields: ['email'], outcome: 'SUCCESS', details: { a: { c: null, d: [1, 2] }, b: 1 }, prev_hash: GENESIS_HASH, hash: 'h',
    };
    const key = Buffer.alloc(32, 1);
    expect(chainHash(key, GENESIS_HASH, fromDbRow(stored))).toBe(chainHash(key, GENESIS_HASH, row));
  });
});
