import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validate } from 'class-validator';
import { canonicalJson } from '../../audit/audit-chain';
import { EventInput } from '../models/event.model';
import { CHECKED_EVENT_FIELDS, wellFormedEvent } from './event-input-check';

const base = {
  idempotencyKey: 'key-1',
  customerId: '3f0c1f5e-8b1a-4c2d-9e3f-1a2b3c4d5e6f',
  type: 'TRANSACTION',
  occurredAt: '2026-12-01T10:00:00.000Z',
  amount: '120.50',
  currency: 'EUR',
  channel: 'WEB',
  country: 'DE',
  ipAddress: '10.0.0.1',
  deviceId: 'dev-1',
  counterpartyRef: 'cp-1',
  content: 'hello',
  attributes: { outcome: 'SUCCESS', tags: ['a', 'b'], n: 3, ok: true, none: null },
};

const long = (n: number) => 'x'.repeat(n);
/** Values each field is tried with: valid ones, edge cases and wrong ones (of the field and of others). */
const tries: Record<string, unknown[]> = {
  idempotencyKey: ['k', '  padded  ', '', '   ', long(200), long(201), ` ${long(200)} `, 5, null, undefined, '😀'.repeat(150)],
  customerId: ['00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '3F0C1F5E-8B1A-4C2D-9E3F-1A2B3C4D5E6F', '3f0c1f5e-8b1a-9c2d-9e3f-1a2b3c4d5e6f', 'not-a-uuid', '', null, undefined, 7],
  customerExternalRef: ['ref-1', ' ref ', '', '  ', long(100), long(101), null, undefined, 1],
  type: ['LOGIN', 'PAYMENT', 'PROFILE_CHANGE', 'transaction', 'NOPE', '', null, undefined],
  occurredAt: ['2026-12-01T10:00:00Z', '2026-12-01T10:00:00+02:00', '2026-12-01T10:00:00.123456-0530', '2026-12-01T10:00z', '2026-12-01T10:00:00', '2026-12-01T10:00:00.5', '2026-12-01', '2026-02-30T10:00:00Z', '2026-12-01 10:00:00', 'yesterday', '', null, 12],
  amount: ['1', '0.5', '10.12', '10.120', '-3.00', '1e3', '', null, undefined, 12],
  currency: ['USD', 'eur', 'EURO', '', null, undefined, 1],
  channel: ['APP', ' APP ', '', long(50), long(51), null, undefined],
  country: ['FR', 'fr', 'FRA', '', null, undefined],
  ipAddress: ['::1', '2001:db8::1', '1', 'host.example', long(46), '', null, undefined],
  deviceId: ['d', '  ', long(200), long(201), null, undefined, {}, 'a\u0000b', 'a\ud800b', '\udc00', '\ud83d\ude00'],
  counterpartyRef: ['c', '', long(201), null, undefined],
  content: ['', 'text', long(10_000), long(10_001), null, undefined, 3],
  attributes: [{}, null, undefined, [], 'x', { 'bad key': 1 }, { nested: { a: 1 } }, { s: long(201) }, { s: 'x\ud800' }, { list: ['ok', 'x\u0000'] }, { list: [1] }, Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]))],
};

async function classValidator(raw: unknown): Promise<{ ok: boolean; input: EventInput }> {
  const input = plainToInstance(EventInput, raw);
  return { ok: (await validate(input)).length === 0, input };
}

describe('wellFormedEvent: the ingest fast lane agrees with class-validator', () => {
  it('checks every property EventInput has validators on', () => {
    const decorated = new Set(getMetadataStorage().getTargetValidationMetadatas(EventInput, '', false, false).map((m) => m.propertyName));
    expect([...CHECKED_EVENT_FIELDS].sort()).toEqual([...decorated].sort());
  });

  it('accepts a well-formed event as plainToInstance makes it', async () => {
    const fast = wellFormedEvent(base);
    expect(fast).toBeInstanceOf(EventInput);
    expect(canonicalJson(fast)).toBe(canonicalJson((await classValidator(base)).input));
  });

  const cases = Object.entries(tries).flatMap(([field, values]) => values.map((value) => [field, value] as const));
  it.each(cases)('%s = %p: the same verdict, and the same input when accepted', async (field, value) => {
    const raw: Record<string, unknown> = { ...base, [field]: value };
    if (value === undefined) delete raw[field];
    const slow = await classValidator(raw);
    const fast = wellFormedEvent(raw);
    expect(fast !== null).toBe(slow.ok);
    // The same canonical body: idempotency hashes it, so the lane must not change what a repeat is.
    if (fast) expect(canonicalJson(fast)).toBe(canonicalJson(slow.input));
  });

  // class-transformer drops keys a plain {} inherits when it copies an object (JSON.parse keeps an own
  // __proto__): the lane must not keep them, or the stored attributes and the idempotency hash would differ.
  it.each([
    ['an inherited name among the attributes', { ...base, attributes: { constructor: 'web', outcome: 'OK' } }],
    ['toString among the attributes', { ...base, attributes: { toString: 'x' } }],
    ['an own __proto__ among the attributes', { ...base, attributes: JSON.parse('{"__proto__": "x", "outcome": "OK"}') }],
    ['an own __proto__ on the event', Object.assign(JSON.parse('{"__proto__": {"polluted": true}}'), base)],
  ])('leaves an object with %s to plainToInstance', async (_, raw) => {
    expect(wellFormedEvent(raw)).toBeNull();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('copies the attributes into a fresh plain object, as plainToInstance does', () => {
    const attributes = Object.assign(Object.create(null), { outcome: 'OK', tags: ['a'] }) as Record<string, unknown>;
    const fast = wellFormedEvent({ ...base, attributes })!;
    expect(Object.getPrototypeOf(fast.attributes)).toBe(Object.prototype);
    expect(fast.attributes).toEqual({ outcome: 'OK', tags: ['a'] });
    expect(fast.attributes!.tags).not.toBe(attributes.tags);
  });

  it('leaves non-objects to class-validator', () => {
    for (const raw of [null, undefined, 'event', 3, [base]]) expect(wellFormedEvent(raw)).toBeNull();
  });
});
