import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';
import { subscribe, waitFor } from '../helpers/subscriptions';

type SocketError = { message: string; extensions?: { code?: string } };

/** The errors of the one `error` message a refused subscription gets (graphql-ws hands the array to the sink). */
async function refusal(url: string, token: string, query: string): Promise<SocketError[]> {
  const s = subscribe(url, token, query);
  await waitFor(() => s.errors.length > 0);
  expect(s.received).toHaveLength(0);
  await s.client.dispose();
  expect(s.errors).toHaveLength(1);
  return s.errors[0] as SocketError[];
}

describe('GraphQL limits: lists without `first`, oversized pages, socket errors, socket loaders', () => {
  let t: TestApp;
  let url: string;
  let admin: SignedIn, co: SignedIn;
  let core: { id: string; token: string };

  beforeAll(async () => {
    t = await startTestApp();
    await t.app.listen(0, '127.0.0.1');
    url = `ws://127.0.0.1:${(t.app.getHttpServer().address() as { port: number }).port}/graphql`;
    admin = await signInAdmin(t);
    co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    core = await partnerWithToken(t, admin, 'INTERNAL');
  }, 120_000);
  afterAll(() => t.close());

  it('prices a list without `first` by the most rows it can return: repeatComplainants × nested pages is refused', async () => {
    const pages = 'alerts(first: 100) { nodes { id severity } } events(first: 100) { nodes { id amount } } complaints(first: 100) { nodes { id subject } }';
    const viaConnection = await t.gql(`{ customers(first: 100) { nodes { ${pages} } } }`, undefined, { token: co.accessToken });
    expect(viaConnection.errors?.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_COMPLEX']);
    // Up to 100 rows, each with the same three pages: as costly as the connection above.
    const res = await t.gql(`{ repeatComplainants(input: {minComplaints: 2, window: "P90D"}) { customer { ${pages} } } }`, undefined, { token: co.accessToken });
    expect(res.errors).toHaveLength(1);
    expect(res.errors![0].extensions!.code).toBe('QUERY_TOO_COMPLEX');
    expect(res.data ?? undefined).toBeUndefined();
    // A plain selection still runs.
    const plain = await t.gql('{ repeatComplainants(input: {minComplaints: 2, window: "P90D"}) { customerId complaints customer { id fullName } } }', undefined, { token: co.accessToken });
    expect(plain.errors).toBeUndefined();
    expect(plain.data).toEqual({ repeatComplainants: [] });
  });

  it('prices one ingested event with nested pages in full, not at the tenth a batch result costs', async () => {
    const deep = 'mutation($e: [EventInput!]!) { ingestEvents(events: $e) { alerts { customer { alerts(first: 100) { nodes { customer { events(first: 100) { nodes { id } } } } } } } } }';
    const one = [{ idempotencyKey: 'deep-1', customerId: '00000000-0000-4000-8000-000000000001', type: 'TRANSACTION', amount: '1.00', occurredAt: new Date().toISOString() }];
    const res = await t.gql(deep, { e: one }, { token: core.token });
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_COMPLEX']);
    // A batch with a flat selection still gets the discount: 1 000 results of ~4 fields.
    const flat = 'mutation($e: [EventInput!]!) { ingestEvents(events: $e) { decision duplicate event { id } } }';
    const batch = Array.from({ length: 1000 }, (_, i) => ({ ...one[0], idempotencyKey: `flat-${i}` }));
    const priced = await t.gql(flat, { e: batch }, { token: core.token });
    // It ran: each item is refused on its own, as the customer does not exist.
    expect(priced.errors?.map((e) => `${e.path!.join('.')}:${e.extensions?.code}`).sort()).toEqual(batch.map((_, i) => `ingestEvents.${i}:NOT_FOUND`).sort());
    expect((priced.data as { ingestEvents: unknown[] }).ingestEvents).toEqual(batch.map(() => null));
  });

  it('answers `first` above the page cap with BAD_USER_INPUT, not QUERY_TOO_COMPLEX', async () => {
    const res = await t.gql('{ users(first: 5000) { totalCount } }', undefined, { token: admin.accessToken });
    expect(res.errors).toHaveLength(1);
    expect(res.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
    // Nested pages are priced at the cap too: still too complex when the capped sizes multiply past the limit.
    const nested = await t.gql('{ customers(first: 5000) { nodes { alerts(first: 5000) { nodes { id } } } } }', undefined, { token: co.accessToken });
    expect(nested.errors?.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_COMPLEX']);
  });

  it('refuses a subscription with too many aliases with exactly one QUERY_TOO_COMPLEX error', async () => {
    const aliases = Array.from({ length: 31 }, (_, i) => `a${i}: id`).join(' ');
    const errors = await refusal(url, co.accessToken, `subscription { alertRaised { ${aliases} } }`);
    expect(errors).toHaveLength(1);
    expect(errors[0].extensions?.code).toBe('QUERY_TOO_COMPLEX');
    expect(errors[0].message).toMatch(/^Aliases limit of 30 exceeded/);
  });

  it('refuses a too-deep (but cheap) subscription, and one past two limits at once, with exactly one QUERY_TOO_COMPLEX error', async () => {
    let inner = 'id';
    for (let i = 0; i < 4; i++) inner = `customer { alerts(first: 1) { nodes { ${inner} } } }`;
    const deep = await refusal(url, co.accessToken, `subscription { alertRaised { ${inner} } }`);
    expect(deep).toHaveLength(1);
    expect(deep[0].extensions?.code).toBe('QUERY_TOO_COMPLEX');
    expect(deep[0].message).toMatch(/^Query depth limit of 10 exceeded/);
    const aliases = Array.from({ length: 31 }, (_, i) => `a${i}: id`).join(' ');
    const both = await refusal(url, co.accessToken, `subscription { alertRaised { ${aliases} ${inner} } }`);
    expect(both.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_COMPLEX']);
  });

  it('resolves each pushed payload with fresh loaders: a customer updated between two alerts shows its new values', async () => {
    const s = subscribe(url, co.accessToken, 'subscription { alertRaised { id rule { code } customer { id status fullName } } }');
    await s.connected;
    await new Promise((r) => setTimeout(r, 200));
    const c = (await gqlOk<{ createCustomer: { id: string } }>(
      t.gql,
      'mutation { createCustomer(input: {externalRef: "fresh-1", fullName: "Ada Before", transactionLimit: "100.00", dailyLimit: "100000.00"}) { id } }',
      undefined,
      co.accessToken,
    )).createCustomer.id;
    type Pushed = { rule: { code: string }; customer: { id: string; status: string; fullName: string } };
    const pushed = () => s.received.map((r) => r.data?.alertRaised as Pushed);

    expect((await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '500.00' }])).errors).toBeUndefined();
    await waitFor(() => pushed().some((a) => a.rule.code === 'LARGE_TRANSACTION'));
    expect(pushed().find((a) => a.rule.code === 'LARGE_TRANSACTION')!.customer).toEqual({ id: c, status: 'ACTIVE', fullName: 'Ada Before' });

    await gqlOk(t.gql, 'mutation($id: ID!) { updateCustomer(id: $id, input: {fullName: "Ada After"}) { id } }', { id: c }, co.accessToken);
    // Above half the limit from a device never seen: another rule, so no de-duplication against the first alert.
    expect((await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '60.00', deviceId: 'device-new-1' }])).errors).toBeUndefined();
    await waitFor(() => pushed().some((a) => a.rule.code === 'NEW_DEVICE_LARGE_AMOUNT'));
    expect(pushed().find((a) => a.rule.code === 'NEW_DEVICE_LARGE_AMOUNT')!.customer).toEqual({ id: c, status: 'ACTIVE', fullName: 'Ada After' });
    expect(s.errors).toEqual([]);
    await s.client.dispose();
    // Each payload's full-value reads were still audited before it left: one entry per payload.
    const { Client } = await import('pg');
    const sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    const { rows } = await sql.query(`SELECT fields FROM audit_entry WHERE action = 'customer.read_pii' AND customer_id = $1 AND actor_id = $2 ORDER BY id`, [c, co.userId]);
    await sql.end();
    expect(rows).toEqual([{ fields: ['fullName'] }, { fields: ['fullName'] }]);
  });
});
