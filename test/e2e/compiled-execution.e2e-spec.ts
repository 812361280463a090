import { startTestApp, type GraphQLResponse, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';

/**
 * A document's first execution is interpreted by graphql-js and its later ones run compiled (graphql-jit,
 * GRAPHQL_COMPILE_AFTER=1 here). Clients must not be able to tell: the same document sent twice gets the
 * same data and the same errors at the same paths, field policies included.
 */
describe('compiled execution answers exactly as graphql-js does', () => {
  let t: TestApp;
  let admin: SignedIn;
  const tokens: Record<string, string> = {};
  let customerId: string;

  beforeAll(async () => {
    t = await startTestApp({ GRAPHQL_COMPILE_AFTER: '1' });
    admin = await signInAdmin(t);
    tokens.ADMIN = admin.accessToken;
    for (const role of ['COMPLIANCE_OFFICER', 'ANALYST', 'AUDITOR', 'AGENT']) tokens[role] = (await createStaff(t, admin, role)).accessToken;
    for (let i = 0; i < 3; i++) {
      const created = await gqlOk<{ createCustomer: { id: string } }>(
        t.gql,
        'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }',
        { i: { externalRef: `jit-${i}`, fullName: `Jit Person ${i}`, email: `jit${i}@example.test`, phone: `+4420794600${10 + i}`, nationalId: `JT00${i}`, transactionLimit: '500.00' } },
        tokens.AGENT,
      );
      customerId ??= created.createCustomer.id;
    }
  }, 120_000);
  afterAll(() => t.close());

  /** Sends the document twice (interpreted, then compiled) and returns both responses. */
  async function twice(query: string, variables: Record<string, unknown> | undefined, token: string): Promise<[GraphQLResponse, GraphQLResponse]> {
    const first = await t.gql(query, variables, { token });
    const second = await t.gql(query, variables, { token });
    return [first, second];
  }

  /** Errors compared by path, code and message; their order in the array is not part of the contract. */
  const errorsOf = (res: GraphQLResponse) =>
    (res.errors ?? []).map((e) => `${(e.path ?? []).join('.')}|${String(e.extensions?.code)}|${e.message}`).sort();

  const CASES: Array<[string, string, (id: string) => Record<string, unknown> | undefined, string]> = [
    [
      'masked and forbidden fields through aliases, fragments and inline fragments',
      `query($id: ID!) { c: customer(id: $id) { __typename id name: fullName mail: email ...F ... on Customer { phone secret: nationalId } }
         list: customers(first: 3) { nodes { id email dateOfBirth } edges { cursor node { externalRef } } pageInfo { hasNextPage endCursor } } }
       fragment F on Customer { address riskLevel transactionLimit createdAt status }`,
      (id) => ({ id }),
      'ANALYST',
    ],
    ['full reads and step-up refusals', `query($id: ID!) { customer(id: $id) { id fullName email phone nationalId dateOfBirth address riskScore riskFactors { factor points } } }`, (id) => ({ id }), 'COMPLIANCE_OFFICER'],
    ['a role that may read almost nothing of a customer', `query($id: ID!) { customer(id: $id) { id externalRef fullName email transactionLimit } }`, (id) => ({ id }), 'AUDITOR'],
    ['a row that does not exist', `{ customer(id: "00000000-0000-4000-8000-000000000000") { id email } }`, () => undefined, 'COMPLIANCE_OFFICER'],
    ['a malformed id', `{ customer(id: "nope") { id } }`, () => undefined, 'COMPLIANCE_OFFICER'],
    ['skip and include with variables', `query($s: Boolean!) { customers(first: 2) { nodes { id email @skip(if: $s) phone @include(if: $s) } } }`, () => ({ s: true }), 'COMPLIANCE_OFFICER'],
    ['a non-customer root field beside a list', `{ me { __typename email role } customers(first: 1) { nodes { id } } }`, () => undefined, 'ANALYST'],
    // graphql-jit applies no default to an omitted non-null input field of a variable by itself (direction).
    ['an input variable relying on a field default', `query($o: CustomerOrder) { customers(first: 3, orderBy: $o) { nodes { externalRef } } }`, () => ({ o: { field: 'EXTERNAL_REF' } }), 'COMPLIANCE_OFFICER'],
    ['an input variable relying on every field default', `query($o: AlertOrder, $e: EventOrder) { alerts(first: 1, orderBy: $o) { totalCount } events(first: 1, orderBy: $e) { totalCount } }`, () => ({ o: {}, e: {} }), 'COMPLIANCE_OFFICER'],
    ['a list of inputs with defaults', `query($r: RepeatComplainantsInput!) { repeatComplainants(input: $r) { customerId } }`, () => ({ r: {} }), 'COMPLIANCE_OFFICER'],
  ];

  it.each(CASES)('%s', async (_name, query, variables, role) => {
    const [interpreted, compiled] = await twice(query, variables(customerId), tokens[role]);
    expect(compiled.status).toBe(interpreted.status);
    expect(compiled.data).toEqual(interpreted.data);
    expect(errorsOf(compiled)).toEqual(errorsOf(interpreted));
    // Each case must show something: data, or the refusal it is about.
    expect(interpreted.data !== null || (interpreted.errors ?? []).length > 0).toBe(true);
  });

  it('the cases do exercise the policies: masks, FORBIDDEN and STEP_UP_REQUIRED come through compiled', async () => {
    const query = `query($id: ID!) { customer(id: $id) { id email nationalId } }`;
    const [, analyst] = await twice(query, { id: customerId }, tokens.ANALYST);
    expect((analyst.data as { customer: { email: string } }).customer.email).toMatch(/^j\*\*\*@example\.test$/);
    expect(errorsOf(analyst)).toEqual(['customer.nationalId|FORBIDDEN|Not allowed to read Customer.nationalId']);
    const [, officer] = await twice(query, { id: customerId }, tokens.COMPLIANCE_OFFICER);
    expect((officer.data as { customer: { email: string } }).customer.email).toBe('jit0@example.test');
    expect(errorsOf(officer).map((e) => e.split('|').slice(0, 2).join('|'))).toEqual(['customer.nationalId|STEP_UP_REQUIRED']);
  });

  it('orders by the default direction when a variable leaves it out, compiled too', async () => {
    const query = 'query($o: CustomerOrder) { customers(first: 3, orderBy: $o) { nodes { externalRef } } }';
    const [interpreted, compiled] = await twice(query, { o: { field: 'EXTERNAL_REF' } }, tokens.COMPLIANCE_OFFICER);
    expect(interpreted.errors).toBeUndefined();
    expect(compiled.errors).toBeUndefined();
    expect((compiled.data as { customers: { nodes: Array<{ externalRef: string }> } }).customers.nodes.map((n) => n.externalRef)).toEqual(['jit-0', 'jit-1', 'jit-2']);
  });

  it('mutations run in order, compiled as interpreted', async () => {
    const query = `mutation($a: UpdateCustomerInput!, $b: UpdateCustomerInput!) {
      first: updateCustomer(id: "${customerId}", input: $a) { id transactionLimit }
      second: updateCustomer(id: "${customerId}", input: $b) { id transactionLimit } }`;
    for (const [a, b] of [['100.00', '200.00'], ['300.00', '400.00']]) {
      const res = await t.gql(query, { a: { transactionLimit: a }, b: { transactionLimit: b } }, { token: tokens.COMPLIANCE_OFFICER });
      expect(res.errors).toBeUndefined();
      expect(res.data).toEqual({ first: { id: customerId, transactionLimit: a }, second: { id: customerId, transactionLimit: b } });
    }
  });
});
