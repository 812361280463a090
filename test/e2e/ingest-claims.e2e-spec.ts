import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { canonicalJson } from '../../src/modules/audit/audit-chain';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { INGEST, newKey, partnerWithToken } from '../helpers/monitoring';

/**
 * The idempotency key is claimed in the statement that stores the event (docs/MONITORING.md "Idempotency"):
 * a repeat — in a later call or later in the same call — stores nothing and answers with the first result;
 * a different body under the same key is a CONFLICT at its index. A partner token records its use at most
 * once a minute, without a write in between.
 */
describe('ingest: idempotency claims and token use', () => {
  let t: TestApp;
  let sql: Client;
  let core: { id: string; token: string };
  let customerId: string;
  let co: SignedIn;
  const q = async <T = Record<string, unknown>>(text: string, params: unknown[] = []) => (await sql.query(text, params)).rows as T[];
  const send = (events: Array<Record<string, unknown>>, ip?: string) =>
    t.gql<{ ingestEvents: Array<{ event: { id: string }; decision: string; duplicate: boolean } | null> }>(INGEST, { e: events }, { token: core.token, ip });

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    const admin = await signInAdmin(t);
    co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    core = await partnerWithToken(t, admin, 'INTERNAL');
    customerId = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: 'claims-1', transactionLimit: '1000.00', dailyLimit: '5000.00' } }, co.accessToken)).createCustomer.id;
  }, 120_000);
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  it('a key repeated in the same call is a duplicate of the first; a changed body under it is a CONFLICT; one row is stored', async () => {
    const event = { idempotencyKey: newKey(), customerId, type: 'TRANSACTION', occurredAt: new Date().toISOString(), amount: '1500.00', currency: 'EUR' };
    const res = await send([event, event, { ...event, amount: '1.00' }]);
    expect(res.errors).toHaveLength(1);
    expect(res.errors![0]).toMatchObject({ path: ['ingestEvents', 2], extensions: { code: 'CONFLICT' } });
    const [first, repeat, changed] = res.data!.ingestEvents;
    expect(first).toMatchObject({ decision: 'HOLD', duplicate: false });
    expect(repeat).toEqual({ event: first!.event, decision: 'HOLD', duplicate: true });
    expect(changed).toBeNull();
    expect(await q(`SELECT decision, hold_status FROM event WHERE customer_id = $1`, [customerId])).toEqual([{ decision: 'HOLD', hold_status: 'PENDING' }]);
    expect(await q(`SELECT event_id FROM event_idempotency WHERE idempotency_key = $1`, [event.idempotencyKey])).toEqual([{ event_id: first!.event.id }]);
  });

  it('stores an ALLOW event as inserted, and a later call with its key changes nothing', async () => {
    const event = { idempotencyKey: newKey(), customerId, type: 'TRANSACTION', occurredAt: new Date().toISOString(), amount: '10.00', currency: 'EUR' };
    const first = (await send([event])).data!.ingestEvents[0]!;
    expect(first).toMatchObject({ decision: 'ALLOW', duplicate: false });
    const [row] = await q<{ decision: string; hold_status: string | null; triggered_rule_ids: string[] }>(`SELECT decision, hold_status, triggered_rule_ids FROM event WHERE id = $1`, [first.event.id]);
    expect(row).toEqual({ decision: 'ALLOW', hold_status: null, triggered_rule_ids: [] });
    const again = (await send([event])).data!.ingestEvents[0]!;
    expect(again).toEqual({ ...first, duplicate: true });
    expect(await q(`SELECT count(*)::int AS n FROM event WHERE customer_id = $1`, [customerId])).toEqual([{ n: 2 }]);
  });

  it('keeps a keyed digest of the body, which no plain hash of a guessed message matches; claims stored with a plain hash still answer', async () => {
    const { idempotencyKey, ...body } = { idempotencyKey: newKey(), customerId, type: 'COMMUNICATION', occurredAt: new Date().toISOString(), channel: 'EMAIL', content: 'I will not repay the loan' };
    const plain = createHash('sha256').update(canonicalJson({ ...body, customerExternalRef: undefined })).digest('hex');
    expect((await send([{ idempotencyKey, ...body }])).errors).toBeUndefined();
    const [stored] = await q<{ body_hash: string }>(`SELECT body_hash FROM event_idempotency WHERE idempotency_key = $1`, [idempotencyKey]);
    expect(stored.body_hash).toMatch(/^k1:[0-9a-f]{64}$/);
    expect(stored.body_hash).not.toContain(plain);
    // A claim written before digests were keyed holds the plain SHA-256: a repeat is still a repeat, and a
    // changed body still a CONFLICT.
    await sql.query(`UPDATE event_idempotency SET body_hash = $2 WHERE idempotency_key = $1`, [idempotencyKey, plain]);
    const again = await send([{ idempotencyKey, ...body }, { idempotencyKey, ...body, content: 'something else' }]);
    expect(again.data!.ingestEvents[0]).toMatchObject({ duplicate: true });
    expect(again.errors!.map((e) => [e.path, e.extensions!.code])).toEqual([[['ingestEvents', 1], 'CONFLICT']]);
  });

  it('answers a repeat with the original result after the customer was closed; a new event for it is CONFLICT', async () => {
    const closing = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "claims-closing", transactionLimit: "1000.00"}) { id } }', undefined, co.accessToken)).createCustomer.id;
    const event = { idempotencyKey: newKey(), customerId: closing, type: 'TRANSACTION', occurredAt: new Date().toISOString(), amount: '10.00', currency: 'EUR' };
    const first = (await send([event])).data!.ingestEvents[0]!;
    expect(first).toMatchObject({ decision: 'ALLOW', duplicate: false });
    // Terminated by a sanction (set directly: sanctions are another module's business).
    await sql.query(`UPDATE customer SET status = 'TERMINATED' WHERE id = $1`, [closing]);
    const res = await send([event, { ...event, amount: '11.00' }, { ...event, idempotencyKey: newKey() }]);
    expect(res.data!.ingestEvents[0]).toEqual({ ...first, duplicate: true });
    expect(res.data!.ingestEvents.slice(1)).toEqual([null, null]);
    expect(res.errors!.map((e) => [e.path, e.extensions?.code, e.message])).toEqual([
      [['ingestEvents', 1], 'CONFLICT', 'This idempotencyKey was already used with a different event'],
      [['ingestEvents', 2], 'CONFLICT', 'The customer is TERMINATED'],
    ]);
    expect(await q(`SELECT count(*)::int AS n FROM event WHERE customer_id = $1`, [closing])).toEqual([{ n: 1 }]);
    const [audit] = await q<{ details: { duplicates: number; processed: number; rejected: number } }>(
      `SELECT details FROM audit_entry WHERE action = 'event.ingest' ORDER BY id DESC LIMIT 1`,
    );
    expect(audit.details).toMatchObject({ processed: 1, duplicates: 1, rejected: 2 });
  });

  it('a token used again within the minute from the same network is not written to', async () => {
    const login = () => ({ idempotencyKey: newKey(), customerId, type: 'LOGIN', occurredAt: new Date().toISOString(), attributes: { outcome: 'SUCCESS' } });
    expect((await send([login()], '10.9.8.7')).errors).toBeUndefined(); // a new network: recorded at once
    const [before] = await q<{ last_used_at: Date; xmin: string }>(`SELECT last_used_at, xmin::text FROM partner_token WHERE partner_id = $1`, [core.id]);
    expect(before.last_used_at).not.toBeNull();
    expect((await send([login()], '10.9.8.7')).errors).toBeUndefined();
    const [after] = await q<{ last_used_at: Date; xmin: string }>(`SELECT last_used_at, xmin::text FROM partner_token WHERE partner_id = $1`, [core.id]);
    expect(after).toEqual(before); // the same row version: nothing was written
    await q(`UPDATE partner_token SET last_used_at = now() - interval '2 minutes' WHERE partner_id = $1`, [core.id]);
    expect((await send([login()], '10.9.8.7')).errors).toBeUndefined();
    const [touched] = await q<{ fresh: boolean }>(`SELECT last_used_at > now() - interval '1 minute' AS fresh FROM partner_token WHERE partner_id = $1`, [core.id]);
    expect(touched.fresh).toBe(true);
  });
});
