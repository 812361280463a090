import { CanonicalRowWriter, canonicalJson, canonicalRow, chainHash, chainHashOf, fromDbRow, GENESIS_HASH, type AuditDbRow, type AuditRow } from './audit-chain';

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

  it('gives the same bytes as the first (map/join) form, so chains written before still verify', () => {
    const reference = (value: unknown): string => {
      if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
      if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
    };
    const samples: unknown[] = [
      [], {}, [undefined, null, 0, -1.5, 'x'], { 'é': 1, e: 2, E: 3, '': 4, '10': 5, '9': 6, 'a\u0000b': 7, '😀': 8, 'ﬀ': 9 },
      { nested: [{ z: [{}], a: true }, 'line\nbreak "quoted"'], when: new Date(0), u: undefined },
      Array.from({ length: 17 }, (_, i) => (i % 3 ? `v${i}` : null)),
    ];
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const randomValue = (depth: number): unknown => {
      const pick = next() % (depth > 3 ? 4 : 6);
      if (pick === 0) return null;
      if (pick === 1) return next() % 1000 - 500;
      if (pick === 2) return String.fromCharCode(...Array.from({ length: next() % 5 }, () => 32 + (next() % 500)));
      if (pick === 3) return next() % 2 === 0;
      if (pick === 4) return Array.from({ length: next() % 4 }, () => randomValue(depth + 1));
      return Object.fromEntries(Array.from({ length: next() % 5 }, () => [String.fromCharCode(97 + (next() % 300)), next() % 5 ? randomValue(depth + 1) : undefined]));
    };
    for (let i = 0; i < 300; i++) samples.push(randomValue(0));
    for (const sample of samples) expect(canonicalJson(sample)).toBe(reference(sample));
  });

  it('writes the same canonical form row by row with values shared across an append', () => {
    const writer = new CanonicalRowWriter();
    const variants: Array<Partial<AuditRow>> = [
      {}, { actorId: null, role: null, ip: null }, { fields: [] }, { fields: ['email', 'phone'] }, { fields: ['email', 'phone'] },
      { fields: ['a\u0000b'] }, { fields: ['a', 'b'] }, { details: {} }, { details: { z: 1, a: [null, 'é"\n'] } },
      { userAgent: 'Mozilla/5.0 "quoted" \\ back' }, { customerId: '00000000-0000-4000-8000-000000000009', resourceId: 'x' },
    ];
    for (const [i, change] of variants.entries()) {
      const full: AuditRow = { ...row, ...change, id: String(100 + i) };
      const { id, occurredAt, ...rest } = full;
      const canonical = writer.row(id, occurredAt, rest);
      expect(canonical).toBe(canonicalRow(full));
      const key = Buffer.alloc(32, 3);
      expect(chainHashOf(key, GENESIS_HASH, canonical)).toBe(chainHash(key, GENESIS_HASH, full));
    }
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
