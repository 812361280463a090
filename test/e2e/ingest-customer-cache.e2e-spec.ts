import { Client } from 'pg';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, freshCode, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { PiiVault } from '../../src/common/crypto/pii-vault.service';
import { SYSTEM_EVENT_SINK, type SystemEventSink } from '../../src/common/audit/system-event-sink';
import { CustomersService } from '../../src/modules/customers/customers.service';
import { ingest, partnerWithToken } from '../helpers/monitoring';
import { ERASE_CUSTOMER_SQL, spyOnQueries } from '../helpers/postgres';

/**
 * The ingest path keeps the snapshots of customers it screened, so a partner's next event for one of them
 * needs no look-up before its transaction. Whatever changed since — on this instance or, as these tests do
 * it with plain SQL, on another — the customer's row lock catches it and the call is screened again from
 * the row as it is.
 */
describe('ingest: cached customer snapshots', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn, co: SignedIn, am: SignedIn, otherAm: SignedIn;
  let core: { id: string; token: string };
  let shop: { id: string; token: string };
  let n = 0;

  const customer = async (extra: Record<string, unknown> = {}, token = co.accessToken) =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `cache-${++n}`, accountManagerId: am.userId, transactionLimit: '1000.00', dailyLimit: '50000.00', ...extra } }, token)).createCustomer.id;

  /** The customer look-ups made before a call's transaction (the screening's own lock reads `FOR UPDATE`). */
  const lookUps = (spy: ReturnType<typeof spyOnQueries>) => spy.mock.calls.filter(([text]) => /FROM customer WHERE/.test(String(text)) && !/FOR UPDATE/.test(String(text))).length;

  const metric = async (pattern: RegExp) => Number(pattern.exec((await t.http().get('/metrics')).text)?.[1] ?? 0);
  const cached = () => metric(/^custos_ingest_customer_lookups_total\{result="cached"\} (\d+)$/m);
  const read = () => metric(/^custos_ingest_customer_lookups_total\{result="read"\} (\d+)$/m);
  const retries = () => metric(/^custos_ingest_stale_snapshot_retries_total (\d+)$/m);

  const send = async (token: string, event: Record<string, unknown>) => {
    const res = await ingest(t, token, [{ type: 'TRANSACTION', amount: '10.00', currency: 'EUR', ...event }]);
    return { res, result: res.data?.ingestEvents[0] ?? null, code: res.errors?.[0]?.extensions?.code };
  };
  const storedFor = async (customerId: string) => (await sql.query(`SELECT count(*)::int AS n FROM event WHERE customer_id = $1`, [customerId])).rows[0].n as number;

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    [co, am, otherAm] = [await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'ACCOUNT_MANAGER'), await createStaff(t, admin, 'ACCOUNT_MANAGER')];
    core = await partnerWithToken(t, admin, 'INTERNAL');
    shop = await partnerWithToken(t, admin, 'EXTERNAL');
  }, 120_000);
  afterAll(async () => {
    await sql.end();
    await t.close();
  });

  it('looks a customer up for its first event only, by id and by external ref alike', async () => {
    const c = await customer();
    const ref = `cache-${n}`;
    const spy = spyOnQueries(t.app);
    try {
      const [cachedBefore, readBefore] = [await cached(), await read()];
      expect((await send(core.token, { customerId: c })).result!.decision).toBe('ALLOW');
      expect(lookUps(spy)).toBe(1);
      expect((await send(core.token, { customerId: c })).result!.decision).toBe('ALLOW');
      expect((await send(core.token, { customerExternalRef: ref })).result!.decision).toBe('ALLOW');
      expect(lookUps(spy)).toBe(1);
      expect([(await cached()) - cachedBefore, (await read()) - readBefore]).toEqual([2, 1]);
    } finally {
      spy.mockRestore();
    }
    expect(await storedFor(c)).toBe(3);
  });

  it('decides on the customer as it is now when the cached snapshot is out of date, and stores the event once', async () => {
    const c = await customer({ transactionLimit: '100000.00' });
    expect((await send(core.token, { customerId: c, amount: '5000.00' })).result!.decision).toBe('ALLOW');
    // Another instance lowers the limit and hands the customer to another account manager.
    await sql.query(`UPDATE customer SET transaction_limit = 1000, account_manager_id = $2 WHERE id = $1`, [c, otherAm.userId]);
    const before = await retries();
    const { res, result } = await send(core.token, { customerId: c, amount: '5000.00' });
    expect(res.errors).toBeUndefined();
    expect(result!.decision).toBe('HOLD'); // LARGE_TRANSACTION, on the new limit
    expect((await retries()) - before).toBe(1);
    expect(await storedFor(c)).toBe(2);
    const notes = await gqlOk<{ myNotifications: { nodes: Array<{ kind: string; eventId: string | null }> } }>(t.gql, '{ myNotifications(first: 100) { nodes { kind eventId } } }', undefined, otherAm.accessToken);
    expect(notes.myNotifications.nodes.filter((x) => x.eventId === result!.event!.id).map((x) => x.kind)).toContain('HOLD_PLACED');
    // The snapshot read on the retry serves the next call without another retry.
    expect((await send(core.token, { customerId: c, amount: '10.00' })).result!.decision).toBe('ALLOW');
    expect((await retries()) - before).toBe(1);
  });

  it('screens the customer an external ref names now, not the one it named when cached', async () => {
    const first = await customer();
    const ref = `cache-${n}`;
    expect((await send(core.token, { customerExternalRef: ref })).result!.decision).toBe('ALLOW');
    // Elsewhere: the first customer gets a new ref, and a new customer takes the old one.
    await sql.query(`UPDATE customer SET external_ref = $2 WHERE id = $1`, [first, `${ref}-renamed`]);
    const second = await customer({ externalRef: ref });
    const { result } = await send(core.token, { customerExternalRef: ref });
    const { rows } = await sql.query(`SELECT customer_id FROM event WHERE id = $1`, [result!.event!.id]);
    expect(rows[0].customer_id).toBe(second);
    expect([await storedFor(first), await storedFor(second)]).toEqual([1, 1]);
  });

  it('refuses an event for a customer closed since it was cached, storing nothing', async () => {
    const c = await customer();
    expect((await send(core.token, { customerId: c })).result!.decision).toBe('ALLOW');
    await sql.query(`UPDATE customer SET status = 'TERMINATED' WHERE id = $1`, [c]);
    const { res } = await send(core.token, { customerId: c });
    expect(res.errors?.map((e) => `${e.path!.join('.')}:${e.extensions!.code}`)).toEqual(['ingestEvents.0:CONFLICT']);
    expect(await storedFor(c)).toBe(1);
  });

  it('does not let an external partner screen another partner\'s customer that the cache holds', async () => {
    const c = await customer();
    expect((await send(core.token, { customerId: c })).result!.decision).toBe('ALLOW');
    const before = await cached();
    expect((await send(shop.token, { customerId: c })).code).toBe('NOT_FOUND');
    expect((await cached()) - before).toBe(1); // found in the cache, and still not the shop's to screen
    expect(await storedFor(c)).toBe(1);

    // Ownership is checked on the snapshot, so the lock compares the onboarding partner too (no API call moves
    // a customer to another partner; the database could).
    const own = await customer({}, shop.token);
    expect((await send(shop.token, { customerId: own })).result!.decision).toBe('ALLOW');
    await sql.query(`UPDATE customer SET onboarded_by_partner_id = $2 WHERE id = $1`, [own, core.id]);
    expect((await send(shop.token, { customerId: own })).code).toBe('NOT_FOUND');
    expect(await storedFor(own)).toBe(1);
  });

  it('reads every call\'s customers when the cache is off', async () => {
    const off = await startTestApp({ INGEST_CUSTOMER_CACHE_SIZE: '0' });
    try {
      const offAdmin = await signInAdmin(off);
      const offCo = await createStaff(off, offAdmin, 'COMPLIANCE_OFFICER');
      const partner = await partnerWithToken(off, offAdmin, 'INTERNAL');
      const c = (await gqlOk<{ createCustomer: { id: string } }>(off.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: 'cache-off', transactionLimit: '1000.00', dailyLimit: '5000.00' } }, offCo.accessToken)).createCustomer.id;
      const spy = spyOnQueries(off.app);
      try {
        for (let i = 0; i < 3; i++) expect((await ingest(off, partner.token, [{ customerId: c, type: 'TRANSACTION', amount: '10.00' }])).data!.ingestEvents[0]!.decision).toBe('ALLOW');
        expect(lookUps(spy)).toBe(3);
      } finally {
        spy.mockRestore();
      }
      expect((await off.http().get('/metrics')).text).not.toMatch(/^custos_ingest_customer_lookups_total\{result="cached"\} [1-9]/m);
    } finally {
      await off.close();
    }
  }, 120_000);

  describe('an erased customer\'s data key leaves memory', () => {
    const vault = () => t.app.get(PiiVault, { strict: false });
    const inMemory = (wrapped: string) => (vault() as unknown as { cache: { get(k: string): unknown } }).cache.get(wrapped) !== undefined;
    const keyOf = async (id: string) => (await sql.query(`SELECT data_key FROM customer WHERE id = $1`, [id])).rows[0].data_key as string;
    const ERASE = 'mutation($id: ID!) { eraseCustomer(id: $id, reason: "customer request (GDPR art. 17)") { status } }';
    // Erasure needs a recent step-up; one serves the whole block (a second code in the same 30 s would wait).
    beforeAll(async () => {
      await gqlOk(t.gql, 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }', { c: await freshCode(co.secret) }, co.accessToken);
    });

    it('erasure forgets the key for good: a request that opens it again before the commit does not cache it', async () => {
      const c = await customer({ email: `erase.gap.${n}@example.test` });
      const wrapped = await keyOf(c);
      // Another request reading the customer between the erasure's own forget and its commit still sees the
      // row with its key, and opens it: stood in for here at the erasure's last step before it commits.
      const sink = t.app.get<SystemEventSink>(SYSTEM_EVENT_SINK, { strict: false });
      const announce = sink.customerStatusChanged.bind(sink);
      let reopened: boolean | undefined;
      const spy = jest.spyOn(sink, 'customerStatusChanged').mockImplementation(async (change) => {
        t.app.get(CustomersService, { strict: false }).sealForCustomer({ id: c, dataKey: wrapped }, { table: 'event', column: 'content', rowId: c }, 'a concurrent reader');
        reopened = inMemory(wrapped);
        return announce(change);
      });
      try {
        expect((await gqlOk<{ eraseCustomer: { status: string } }>(t.gql, ERASE, { id: c }, co.accessToken)).eraseCustomer.status).toBe('ERASED');
      } finally {
        spy.mockRestore();
      }
      expect(reopened).toBe(false);
      expect(inMemory(wrapped)).toBe(false);
      // Nor later: a reader that read the row before the erasure committed and opens the key only now.
      t.app.get(CustomersService, { strict: false }).sealForCustomer({ id: c, dataKey: wrapped }, { table: 'event', column: 'content', rowId: c }, 'a late reader');
      expect(inMemory(wrapped)).toBe(false);
    });

    it('erasure drops the cached snapshot: the next event reads the customer afresh and never opens the erased key', async () => {
      const c = await customer({ email: `erase.snapshot.${n}@example.test` });
      const wrapped = await keyOf(c);
      expect((await send(core.token, { customerId: c })).result!.decision).toBe('ALLOW');
      await gqlOk(t.gql, ERASE, { id: c }, co.accessToken);
      const retriesBefore = await retries();
      const spy = spyOnQueries(t.app);
      let after;
      try {
        after = await send(core.token, { customerId: c, type: 'COMMUNICATION', amount: undefined, currency: undefined, channel: 'EMAIL', content: 'after the erasure' });
        expect(lookUps(spy)).toBe(1);
      } finally {
        spy.mockRestore();
      }
      expect(after.result).toBeNull();
      expect(after.code).toBe('CONFLICT');
      expect(await retries()).toBe(retriesBefore);
      expect(inMemory(wrapped)).toBe(false);
    });

    it('a call screening with a snapshot from before an erasure on another instance drops the key it opened', async () => {
      const c = await customer({ email: `erase.elsewhere.${n}@example.test` });
      const wrapped = await keyOf(c);
      expect((await send(core.token, { customerId: c })).result!.decision).toBe('ALLOW');
      await sql.query(ERASE_CUSTOMER_SQL, [c]);
      const retriesBefore = await retries();
      // The cached snapshot still carries the key: the content is sealed with it before the row lock shows the erasure.
      const after = await send(core.token, { customerId: c, type: 'COMMUNICATION', amount: undefined, currency: undefined, channel: 'EMAIL', content: 'after the erasure' });
      expect(after.code).toBe('CONFLICT');
      expect(await retries()).toBe(retriesBefore + 1);
      expect(inMemory(wrapped)).toBe(false);
      expect(await storedFor(c)).toBe(1);
    });
  });
});
