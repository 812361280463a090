import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, signInAdmin } from '../helpers/auth';
import { subscribe, waitFor } from '../helpers/subscriptions';

const deepQuery = (depth: number) => {
  // __type/ofType nests arbitrarily deep in any schema; ignoreIntrospection is only for the root __schema walk
  let inner = 'name';
  for (let i = 0; i < depth; i++) inner = `ofType { ${inner} }`;
  return `{ serverInfo { version } q: __type(name: "ServerInfo") { ${inner} } }`;
};

describe('GraphQL hardening (development mode)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ GRAPHQL_MAX_DEPTH: '6', GRAPHQL_MAX_ALIASES: '5', GRAPHQL_MAX_DIRECTIVES: '3', GRAPHQL_MAX_COST: '50' });
  });
  afterAll(() => t.close());

  it('refuses a too-deep query before execution with one QUERY_TOO_COMPLEX error', async () => {
    const res = await t.gql(deepQuery(12));
    expect(res.status).toBe(400);
    expect(res.errors).toHaveLength(1);
    expect(res.errors![0].extensions!.code).toBe('QUERY_TOO_COMPLEX');
    expect(res.data ?? undefined).toBeUndefined();
  });

  it('accepts a query within the depth limit', async () => {
    const res = await t.gql(deepQuery(2));
    expect(res.errors).toBeUndefined();
  });

  it('refuses an alias flood with a single error', async () => {
    const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: serverInfo { version }`).join(' ');
    const res = await t.gql(`{ ${aliases} }`);
    expect(res.status).toBe(400);
    expect(res.errors).toHaveLength(1);
    expect(res.errors![0].extensions!.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('refuses too many directives', async () => {
    const res = await t.gql('{ serverInfo @include(if: true) @include(if: true) @skip(if: false) @skip(if: false) { version } }');
    expect(res.errors).toHaveLength(1);
    expect(res.errors![0].extensions!.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('refuses a document whose cost exceeds the limit', async () => {
    // 4 aliases (within the alias limit) × the whole introspection of a type: cost well above 50
    const heavy = '__type(name: "Query") { name fields { name args { name type { name ofType { name } } } type { name ofType { name } } } }';
    const res = await t.gql(`{ a: ${heavy} b: ${heavy} c: ${heavy} d: ${heavy} }`);
    expect(res.status).toBe(400);
    expect(res.errors).toHaveLength(1);
    expect(res.errors![0].extensions!.code).toBe('QUERY_TOO_COMPLEX');
    expect(res.errors![0].message).toMatch(/cost \d+ exceeds the limit of 50/);
  });

  it('prices the same document by its variables each time, remembered costs included', async () => {
    // Priced before anything executes: the anonymous caller gets UNAUTHENTICATED only when the cost passes.
    const page = 'query($n: Int) { customers(first: $n) { nodes { id } } }';
    const codeFor = async (n: number) => (await t.gql(page, { n })).errors?.[0]?.extensions?.code;
    for (const [n, code] of [[2, 'UNAUTHENTICATED'], [100, 'QUERY_TOO_COMPLEX'], [100, 'QUERY_TOO_COMPLEX'], [2, 'UNAUTHENTICATED'], [40, 'QUERY_TOO_COMPLEX']] as const) {
      expect(await codeFor(n)).toBe(code);
    }
  });

  it('prices a list by its length, remembers that, and still refuses bad variables of a remembered shape', async () => {
    const ingest = 'mutation($events: [EventInput!]!) { ingestEvents(events: $events) { decision } }';
    const event = (i: number) => ({
      idempotencyKey: `price-${i}`, customerId: '00000000-0000-4000-8000-000000000001', type: 'TRANSACTION', occurredAt: new Date().toISOString(), amount: '10.00', currency: 'EUR',
    });
    const events = (n: number) => Array.from({ length: n }, (_, i) => event(i));
    const codeFor = async (n: number) => (await t.gql(ingest, { events: events(n) })).errors?.[0]?.extensions?.code;
    // 1 + n / 10 against a limit of 50: 490 events cost 50, 500 cost 51.
    for (const [n, code] of [[600, 'QUERY_TOO_COMPLEX'], [10, 'UNAUTHENTICATED'], [600, 'QUERY_TOO_COMPLEX'], [10, 'UNAUTHENTICATED'], [490, 'UNAUTHENTICATED'], [500, 'QUERY_TOO_COMPLEX']] as const) {
      expect(await codeFor(n)).toBe(code);
    }
    // Three events, the second of an unknown type: refused by pricing the first time, by the executor once the
    // shape's cost is remembered; the caller cannot tell which.
    const bad = events(3);
    bad[1] = { ...bad[1], type: 'NOPE' };
    const refused = async () => {
      const res = await t.gql(ingest, { events: bad });
      return { status: res.status, body: res.body as unknown };
    };
    const first = await refused();
    expect(first.status).toBe(400);
    expect(first.body).toEqual({ errors: [expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', fieldErrors: [expect.objectContaining({ path: expect.stringContaining('type') })] } })] });
    expect(await codeFor(3)).toBe('UNAUTHENTICATED');
    for (let i = 0; i < 3; i++) expect(await refused()).toEqual(first); // interpreted, then compiled
  });

  it('refuses batched HTTP arrays', async () => {
    const res = await t.http().post('/graphql').set('content-type', 'application/json').send([{ query: '{ __typename }' }, { query: '{ __typename }' }]);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body ?? res.text)).not.toContain('"__typename":"Query"');
  });

  it('cannot run a mutation over GET', async () => {
    const res = await t.http().get('/graphql').query({ query: 'mutation { __typename }' }).set('apollo-require-preflight', 'true');
    expect(res.status).toBe(405);
  });

  it('applies CSRF prevention to simple GET requests', async () => {
    const res = await t.http().get('/graphql').query({ query: '{ __typename }' });
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/CSRF/i);
  });

  it('refuses bodies over 1 MB with 413', async () => {
    const padding = 'x'.repeat(1024 * 1024 + 10);
    const res = await t.http().post('/graphql').set('content-type', 'application/json').send({ query: `{ __typename } # ${padding}` });
    expect(res.status).toBe(413);
  });

  it('keeps introspection and field suggestions in development', async () => {
    const intro = await t.gql('{ __schema { queryType { name } } }');
    expect(intro.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    const typo = await t.gql('{ serverInfo { versio } }');
    expect(typo.errors![0].message).toMatch(/Did you mean/);
  });
});

describe('GraphQL hardening (production mode)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ NODE_ENV: 'production' });
  });
  afterAll(() => t.close());

  it('turns introspection off', async () => {
    const res = await t.gql('{ __schema { types { name } } }');
    expect(res.data ?? undefined).toBeUndefined();
    expect(res.errors![0].message).toMatch(/introspection/i);
  });

  it('gives no field suggestions', async () => {
    const res = await t.gql('{ serverInfo { versio } }');
    expect(res.errors).toBeDefined();
    expect(JSON.stringify(res.errors)).not.toMatch(/Did you mean|version/);
  });

  it('gives no field suggestions over the subscription socket either', async () => {
    await t.app.listen(0, '127.0.0.1');
    const url = `ws://127.0.0.1:${(t.app.getHttpServer().address() as { port: number }).port}/graphql`;
    const co = await createStaff(t, await signInAdmin(t), 'COMPLIANCE_OFFICER');
    const typo = subscribe(url, co.accessToken, 'subscription { alertRaised { custmer { id } } }');
    await waitFor(() => typo.errors.length > 0);
    expect(typo.received).toHaveLength(0);
    expect(JSON.stringify(typo.errors)).toMatch(/custmer/);
    expect(JSON.stringify(typo.errors)).not.toMatch(/Did you mean|"customer"/);
    await typo.client.dispose();
  });

  it('has no landing page', async () => {
    const res = await t.http().get('/graphql').set('accept', 'text/html');
    expect(res.text).not.toMatch(/<html/i);
  });

  it('sends no stack traces', async () => {
    const res = await t.gql('{ nope }');
    expect(JSON.stringify(res.body)).not.toMatch(/stacktrace|at .*\.js:\d+/);
  });
});
