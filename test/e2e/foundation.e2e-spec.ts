import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, signInAdmin, type SignedIn } from '../helpers/auth';

describe('foundation: GraphQL over HTTP', () => {
  let t: TestApp;
  // The bootstrap admin enrols once: every test that needs it shares one sign-in.
  let admin: SignedIn | undefined;
  const adminOnce = async () => (admin ??= await signInAdmin(t));
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers a query and stamps a request id', async () => {
    const res = await t.gql('{ __typename serverInfo { version time } }');
    expect(res.status).toBe(200);
    expect(res.data).toMatchObject({ __typename: 'Query', serverInfo: { version: expect.any(String) } });
    expect(new Date((res.data as { serverInfo: { time: string } }).serverInfo.time).toISOString()).toBeTruthy();
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('mints every request id itself: a caller\'s x-request-id is neither echoed nor adopted', async () => {
    for (const incoming of ['client-req-42', 'bad id\twith spaces']) {
      const res = await t.gql('{ __typename }', undefined, { headers: { 'x-request-id': incoming } });
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });

  it('audits each denied request under its own id, whatever x-request-id the caller repeats', async () => {
    // Audit keeps one denial per request, and DENIED_BURST counts requests: with a caller-chosen id, 50 probes
    // sent under one id would be audited once and count as one.
    const analyst = await createStaff(t, await adminOnce(), 'ANALYST');
    const probe = () => t.gql('query($id: ID!) { event(id: $id) { id } }', { id: randomUUID() }, { token: analyst.accessToken, headers: { 'x-request-id': 'probe' } });
    const answers = [await probe(), await probe(), await probe()];
    for (const res of answers) expect(res.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    try {
      const denied = async () => (await sql.query(`SELECT request_id FROM audit_entry WHERE actor_id = $1 AND action = 'access.denied' ORDER BY id`, [analyst.userId])).rows.map((r) => r.request_id as string);
      // The plugin writes its entry as the response leaves: wait for all three (or give up and compare).
      for (let i = 0; i < 50 && (await denied()).length < 3; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await denied()).toEqual(answers.map((res) => res.headers['x-request-id']));
    } finally {
      await sql.end();
    }
  });

  describe('bad input is BAD_USER_INPUT (HTTP 400), never an internal error', () => {
    let co: SignedIn;
    const CREATE = 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }';
    beforeAll(async () => {
      co = await createStaff(t, await adminOnce(), 'COMPLIANCE_OFFICER');
    });

    it('a bad scalar literal keeps the scalar\'s own message', async () => {
      const res = await t.gql('mutation { createCustomer(input: {externalRef: "lit-1", dateOfBirth: "2025-02-30"}) { id } }', undefined, { token: co.accessToken });
      expect(res.status).toBe(400);
      expect(res.errors).toEqual([expect.objectContaining({ message: 'Date must be a real calendar day', extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })]);
    });

    it('bad variables name the field inside the input', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ externalRef: 'var-1', dateOfBirth: '2025-02-30' }, 'dateOfBirth'],
        [{ externalRef: 'var-2', transactionLimit: 'abc' }, 'transactionLimit'],
        [{ dateOfBirth: '2000-01-01' }, 'externalRef'],
        [{ externalRef: 'var-3', nope: 1 }, 'nope'],
      ];
      for (const [input, path] of cases) {
        const res = await t.gql(CREATE, { i: input }, { token: co.accessToken });
        expect(res.status).toBe(400);
        expect(res.data).toBeUndefined();
        expect(res.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', fieldErrors: [{ path, message: expect.any(String) }] });
        expect(JSON.stringify(res.errors)).not.toMatch(/stacktrace|coerceInputValue/);
      }
      // Nothing was written by any of them.
      const list = await t.gql<{ customers: { totalCount: number } }>('{ customers(filter: {}) { totalCount } }', undefined, { token: co.accessToken });
      expect(list.data?.customers.totalCount).toBe(0);
    });
  });
});
