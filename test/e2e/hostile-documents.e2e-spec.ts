import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

/** A document whose fragments each spread the next one twice: `levels` levels name 2^levels copies of one field. */
const fragmentBomb = (levels: number) =>
  '{ ...F0 } ' + Array.from({ length: levels }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`).join(' ') + ` fragment F${levels} on Query { serverInfo { version } }`;

describe('hostile documents get a client error at once, without credentials too', () => {
  let t: TestApp;
  beforeAll(async () => (t = await startTestApp()));
  afterAll(() => t.close());

  const post = (body: Record<string, unknown>) => t.http().post('/graphql').set('content-type', 'application/json').send(body);

  it('a fragment bomb is priced, not expanded: 2^40 copies of a field are QUERY_TOO_COMPLEX at once', async () => {
    for (const levels of [12, 20, 40]) {
      const started = Date.now();
      const res = await post({ query: fragmentBomb(levels) });
      expect(Date.now() - started).toBeLessThan(2_000); // 2^20 copies took 2.2 s when each spread was walked
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code)).toEqual(['QUERY_TOO_COMPLEX']);
      expect(res.body.data).toBeUndefined();
    }
    // The server still answers.
    expect((await post({ query: '{ serverInfo { version } }' })).body.data.serverInfo.version).toEqual(expect.any(String));
  });

  it('an operationName the document does not define is OPERATION_RESOLUTION_FAILURE (400), not an internal error', async () => {
    const cases = [
      { query: 'query A { serverInfo { version } }', operationName: 'B' },
      { query: '{ serverInfo { version } }', operationName: 'X' },
      { query: 'query A { serverInfo { version } } query C { serverInfo { version } }' },
    ];
    for (const body of cases) {
      // Twice: the second execution of a document takes the compiled path.
      for (let i = 0; i < 2; i++) {
        const res = await post(body);
        expect({ status: res.status, codes: res.body.errors?.map((e: { extensions: { code: string } }) => e.extensions.code) }).toEqual({ status: 400, codes: ['OPERATION_RESOLUTION_FAILURE'] });
      }
    }
    const named = await post({ query: 'query A { serverInfo { version } } query C { serverInfo { version } }', operationName: 'C' });
    expect(named.body.errors).toBeUndefined();
  });
});

describe('inputs the validators used to trip over are BAD_USER_INPUT, naming the field', () => {
  let t: TestApp;
  let admin: SignedIn, co: SignedIn;
  let core: { id: string; token: string };
  let customerId: string;
  beforeAll(async () => {
    t = await startTestApp();
    admin = await signInAdmin(t);
    co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    core = await partnerWithToken(t, admin, 'INTERNAL');
    customerId = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "hostile-1"}) { id } }', undefined, co.accessToken)).createCustomer.id;
  }, 120_000);
  afterAll(() => t.close());

  type Res = { errors?: Array<{ message: string; extensions?: { code?: string; fieldErrors?: Array<{ path: string }> } }> };
  const refusal = (res: Res) => ({ code: res.errors?.[0]?.extensions?.code, paths: res.errors?.[0]?.extensions?.fieldErrors?.map((f) => f.path) });

  it('an e-mail with a lone surrogate (validator\'s isEmail threw URIError)', async () => {
    for (const email of ['\uD800', 'a\uD800@example.test', 'x\uDC00y']) {
      const user = await t.gql('mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', { i: { email, displayName: 'Surrogate', role: 'AGENT', initialPassword: 'a-long-initial-password' } }, { token: admin.accessToken });
      expect(refusal(user)).toEqual({ code: 'BAD_USER_INPUT', paths: ['email'] });
      const partner = await t.gql('mutation($id: ID!, $i: UpdatePartnerInput!) { updatePartner(id: $id, input: $i) { id } }', { id: core.id, i: { contactEmail: email } }, { token: admin.accessToken });
      expect(refusal(partner)).toEqual({ code: 'BAD_USER_INPUT', paths: ['contactEmail'] });
      const customer = await t.gql('mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i) { id } }', { id: customerId, i: { email } }, { token: co.accessToken });
      expect(refusal(customer)).toEqual({ code: 'BAD_USER_INPUT', paths: ['email'] });
    }
  });

  it('a verification score the client writes in exponent form (class-validator read its decimals from the text)', async () => {
    const record = (score: number) =>
      t.gql('mutation($i: RecordVerificationResultInput!) { recordVerificationResult(input: $i) { score } }', { i: { customerId, method: 'DOCUMENT', provider: 'IdCheckCo', result: 'PASSED', score } }, { token: co.accessToken });
    for (const score of [1e-7, 5e-324, 0.30000000000000004, 12.3456]) {
      const res = await record(score);
      expect(refusal(res)).toEqual({ code: 'BAD_USER_INPUT', paths: ['score'] });
      expect(res.errors![0].message).toContain('at most 3 decimal places');
    }
    expect((await gqlOk<{ recordVerificationResult: { score: number } }>(t.gql, 'mutation($i: RecordVerificationResultInput!) { recordVerificationResult(input: $i) { score } }', { i: { customerId, method: 'DOCUMENT', provider: 'IdCheckCo', result: 'PASSED', score: 97.125 } }, co.accessToken)).recordVerificationResult.score).toBe(97.125);
  });

  it('a "constructor" key in a JSON value: the rule is refused, and in a batch only that event is (class-transformer threw)', async () => {
    const rule = (condition: unknown) =>
      t.gql('mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }', { i: { code: 'HOSTILE_KEY', name: 'Hostile key', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['REVIEW'], condition } }, { token: co.accessToken });
    for (const condition of [{ constructor: {} }, { compare: { left: { field: 'amount' }, op: 'gt', right: { value: 1, constructor: 1 } } }]) {
      expect(refusal(await rule(condition))).toEqual({ code: 'BAD_USER_INPUT', paths: ['condition'] });
    }
    const res = await ingest(t, core.token, [
      { customerId, type: 'TRANSACTION', amount: '10.00', currency: 'EUR', attributes: { constructor: 1 } },
      { customerId, type: 'TRANSACTION', amount: '10.00', currency: 'EUR', attributes: { tier: 'gold' } },
    ]);
    expect(res.errors?.map((e) => ({ path: e.path, code: e.extensions?.code, fields: (e.extensions?.fieldErrors as Array<{ path: string }>).map((f) => f.path) }))).toEqual([{ path: ['ingestEvents', 0], code: 'BAD_USER_INPUT', fields: ['attributes'] }]);
    expect(res.data!.ingestEvents[0]).toBeNull();
    expect(res.data!.ingestEvents[1]!.decision).toBe('ALLOW');
  });
});
