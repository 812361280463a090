import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, signInAdmin, type SignedIn } from '../helpers/auth';

describe('foundation: GraphQL over HTTP', () => {
  let t: TestApp;
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

  it('echoes a safe incoming x-request-id and replaces an unsafe one', async () => {
    const kept = await t.gql('{ __typename }', undefined, { headers: { 'x-request-id': 'client-req-42' } });
    expect(kept.headers['x-request-id']).toBe('client-req-42');
    const replaced = await t.gql('{ __typename }', undefined, { headers: { 'x-request-id': 'bad id\twith spaces' } });
    // A fresh UUID in its place (not a substring check: a random UUID may well contain "bad").
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  describe('bad input is BAD_USER_INPUT (HTTP 400), never an internal error', () => {
    let co: SignedIn;
    const CREATE = 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }';
    beforeAll(async () => {
      co = await createStaff(t, await signInAdmin(t), 'COMPLIANCE_OFFICER');
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
