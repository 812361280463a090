import { Client } from 'pg';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, newKey, partnerWithToken } from '../helpers/monitoring';

const MIN = 60_000;

/**
 * One ingestEvents call is screened as a batch (docs/MONITORING.md "Batches"): the events are stored at once
 * and their aggregates computed in one statement, yet every event must be decided as if the events came one
 * per call in array order — its windows see the earlier events of the call, never the later ones (even
 * when those lie earlier in time), and what an earlier event did (an alert opened, a login locked) is
 * seen by the later ones.
 */
describe('ingest: a call screened as one batch, decided in array order', () => {
  let t: TestApp;
  let sql: Client;
  let co: SignedIn, am: SignedIn;
  let core: { id: string; token: string };
  let n = 0;

  const customer = async () =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `batch-${++n}`, accountManagerId: am.userId, transactionLimit: '1000.00', dailyLimit: '5000.00' } }, co.accessToken)).createCustomer.id;
  const decisions = async (events: Array<Record<string, unknown>>) => {
    const res = await ingest(t, core.token, events);
    expect(res.errors).toBeUndefined();
    return res.data!.ingestEvents.map((r) => r!.decision);
  };
  const profileChange = (customerId: string, at: number) => ({ customerId, type: 'PROFILE_CHANGE', occurredAt: new Date(at).toISOString(), attributes: { fields: ['email'] } });

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    const admin = await signInAdmin(t);
    [co, am] = [await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'ACCOUNT_MANAGER')];
    core = await partnerWithToken(t, admin, 'INTERNAL');
  }, 120_000);
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  it('finds the customers of a call by id, by external reference or both, one or many of each', async () => {
    const [a, b] = [await customer(), await customer()];
    const refOf = async (id: string) => (await sql.query(`SELECT external_ref FROM customer WHERE id = $1`, [id])).rows[0].external_ref as string;
    const [refA, refB] = [await refOf(a), await refOf(b)];
    const login = (key: Record<string, string>) => ({ ...key, type: 'LOGIN', attributes: { outcome: 'SUCCESS' }, idempotencyKey: newKey() });
    const customersOf = async (events: Array<Record<string, unknown>>) => {
      const res = await ingest(t, core.token, events);
      const codes = (res.errors ?? []).map((e) => `${e.path!.join('.')} ${e.extensions!.code}`);
      // The partner may not read an event's customer: the stored rows say whose each event became.
      const ids = res.data!.ingestEvents.map((r) => r?.event?.id ?? null);
      const { rows } = await sql.query(`SELECT id, customer_id FROM event WHERE id = ANY($1::uuid[])`, [ids.filter(Boolean)]);
      const owner = new Map(rows.map((r) => [r.id, r.customer_id]));
      return { customers: ids.map((id) => (id ? owner.get(id) : null)), codes };
    };
    // One id; one reference; several ids; several references; ids and references mixed, with unknown ones.
    expect(await customersOf([login({ customerId: a })])).toEqual({ customers: [a], codes: [] });
    expect(await customersOf([login({ customerExternalRef: refB })])).toEqual({ customers: [b], codes: [] });
    expect(await customersOf([login({ customerId: a }), login({ customerId: b })])).toEqual({ customers: [a, b], codes: [] });
    expect(await customersOf([login({ customerExternalRef: refA }), login({ customerExternalRef: refB })])).toEqual({ customers: [a, b], codes: [] });
    expect(
      await customersOf([
        login({ customerExternalRef: refB }),
        login({ customerId: a }),
        login({ customerExternalRef: 'no-such-ref' }),
        login({ customerId: '00000000-0000-4000-8000-000000000000' }),
      ]),
    ).toEqual({ customers: [b, a, null, null], codes: ['ingestEvents.2 NOT_FOUND', 'ingestEvents.3 NOT_FOUND'] });
  });

  it('counts the earlier events of the call at the same time, and not the later ones', async () => {
    const c = await customer();
    const at = Date.now() - MIN;
    // FREQUENT_PROFILE_CHANGES: the third change within 24 hours.
    expect(await decisions([profileChange(c, at), profileChange(c, at), profileChange(c, at)])).toEqual(['ALLOW', 'ALLOW', 'REVIEW']);
  });

  it('leaves a later event of the call out of an earlier one\'s window even when it occurred before', async () => {
    const c = await customer();
    const at = Date.now() - 10 * MIN;
    // One by one, each of these sees only itself: the others came later (in the call) or lie after it (in time).
    expect(await decisions([profileChange(c, at), profileChange(c, at - MIN), profileChange(c, at - 2 * MIN)])).toEqual(['ALLOW', 'ALLOW', 'ALLOW']);
    // A later call sees all three stored.
    expect(await decisions([profileChange(c, at + MIN)])).toEqual(['REVIEW']);
  });

  it('screens a call of 500 events of one customer at one instant, or in reverse time order, in seconds', async () => {
    // Each event leaves out every later one of the call: the lists add up to 125 000 ids. Read again for
    // every stored row a window scanned, they took a call of 200 such events seconds and one of 1 000 past
    // the statement timeout.
    const at = Date.now() - 10 * MIN;
    const tied = await customer();
    let started = Date.now();
    const atOnce = await decisions(Array.from({ length: 500 }, () => profileChange(tied, at)));
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(atOnce).toEqual([...Array(2).fill('ALLOW'), ...Array(498).fill('REVIEW')]);
    const reversed = await customer();
    started = Date.now();
    const backwards = await decisions(Array.from({ length: 500 }, (_, i) => profileChange(reversed, at - i * 1000)));
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(backwards).toEqual(Array(500).fill('ALLOW'));
  }, 60_000);

  it('repeats the alert an earlier event of the call opened, as consecutive calls would', async () => {
    const c = await customer();
    const at = Date.now() - MIN;
    expect(await decisions([0, 1, 2, 3].map(() => profileChange(c, at)))).toEqual(['ALLOW', 'ALLOW', 'REVIEW', 'REVIEW']);
    const { rows } = await sql.query(
      `SELECT r.code, a.occurrences FROM alert a JOIN rule r ON r.id = a.rule_id WHERE a.customer_id = $1`,
      [c],
    );
    expect(rows).toEqual([{ code: 'FREQUENT_PROFILE_CHANGES', occurrences: 2 }]);
    // Rule hits, decisions and the REVIEWs are stored per event.
    const hits = await sql.query(`SELECT count(*)::int AS n FROM rule_hit WHERE customer_id = $1`, [c]);
    expect(hits.rows[0].n).toBe(2);
    const stored = await sql.query(`SELECT decision, count(*)::int AS n FROM event WHERE customer_id = $1 GROUP BY decision ORDER BY decision`, [c]);
    expect(stored.rows).toEqual([{ decision: 'ALLOW', n: 2 }, { decision: 'REVIEW', n: 2 }]);
  });

  it('holds and notifies per event inside one call, and writes one audit entry for the call', async () => {
    const c = await customer();
    const tx = (amount: string) => ({ customerId: c, type: 'TRANSACTION', amount, currency: 'EUR', idempotencyKey: newKey() });
    expect(await decisions([tx('1500.00'), tx('10.00'), tx('2500.00')])).toEqual(['HOLD', 'ALLOW', 'HOLD']);
    const holds = await sql.query(`SELECT count(*)::int AS n FROM hold_action h JOIN event e ON e.id = h.event_id WHERE e.customer_id = $1`, [c]);
    expect(holds.rows[0].n).toBe(2);
    const notes = await sql.query(`SELECT kind, count(*)::int AS n FROM notification WHERE customer_id = $1 GROUP BY kind ORDER BY kind`, [c]);
    expect(notes.rows).toEqual([{ kind: 'ALERT_RAISED', n: 1 }, { kind: 'HOLD_PLACED', n: 2 }]);
    const alerts = await sql.query(`SELECT occurrences FROM alert WHERE customer_id = $1`, [c]);
    expect(alerts.rows).toEqual([{ occurrences: 2 }]);
    const audit = await sql.query(
      `SELECT details FROM audit_entry WHERE action = 'event.ingest' AND details->>'firstEventId' = (SELECT id::text FROM event WHERE customer_id = $1 AND amount = 1500)`,
      [c],
    );
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0].details).toMatchObject({ received: 3, processed: 3, decisions: { HOLD: 2, ALLOW: 1 } });
  });

  it('computes only the aggregates of rules the event and customer leave open, and decides the same', async () => {
    // The statements the app sends while one call runs (the test app runs in this process).
    const sent: string[] = [];
    const query = Client.prototype.query;
    const aggregatesOf = async (events: Array<Record<string, unknown>>) => {
      sent.length = 0;
      const spy = jest.spyOn(Client.prototype, 'query').mockImplementation(function (this: Client, ...args: unknown[]) {
        const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
        if (text && /\bAS a0\b|AS last_activity/.test(text)) sent.push(text);
        return (query as (...a: unknown[]) => unknown).apply(this, args);
      } as never);
      try {
        return { decisions: await decisions(events), sql: sent.join('\n') };
      } finally {
        spy.mockRestore();
      }
    };
    const c = await customer();
    const login = { customerId: c, type: 'LOGIN', attributes: { outcome: 'SUCCESS' } };
    // A successful login settles LOGIN_FAILURE_BURST (not a failure): no aggregate statement at all.
    expect(await aggregatesOf([login, login])).toEqual({ decisions: ['ALLOW', 'ALLOW'], sql: '' });
    // 10 € against a 1 000 limit: only the velocity sum and the spike average are computed, in one scan.
    const small = await aggregatesOf([{ customerId: c, type: 'TRANSACTION', amount: '10.00', currency: 'EUR', deviceId: 'phone-1' }]);
    expect(small.decisions).toEqual(['ALLOW']);
    expect(small.sql).toMatch(/sum\(amount\)/);
    expect(small.sql).toMatch(/avg\(amount\)/);
    expect(small.sql).not.toMatch(/device_id =|last_activity/);
    // 6 000 €: above the limit (held) and above 5 000, so the new-device count and the dormancy look-up run,
    // and the device, unseen before, makes NEW_DEVICE_LARGE_AMOUNT fire; the hour's 6 010 € pass the 5 000
    // daily limit (HOURLY_VELOCITY).
    const large = await aggregatesOf([{ customerId: c, type: 'TRANSACTION', amount: '6000.00', currency: 'EUR', deviceId: 'laptop-9' }]);
    expect(large.decisions).toEqual(['HOLD']);
    expect(large.sql).toMatch(/device_id = /);
    expect(large.sql).toMatch(/AS last_activity/);
    const { rows } = await sql.query(
      `SELECT r.code FROM rule_hit h JOIN rule r ON r.id = h.rule_id JOIN event e ON e.id = h.event_id WHERE e.customer_id = $1 AND e.amount = 6000 ORDER BY r.code`,
      [c],
    );
    expect(rows.map((r) => r.code)).toEqual(['HOURLY_VELOCITY', 'LARGE_TRANSACTION', 'NEW_DEVICE_LARGE_AMOUNT']);
  });
});
