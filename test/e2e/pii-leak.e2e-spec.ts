import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { randomIp, TEST_ADMIN, testSecrets, type GraphQLResponse, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres';
import { execFileSync } from 'node:child_process';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

const MARKERS = {
  fullName: 'Ottoline Marquessa',
  email: 'ottoline.marquessa@leak-marker.test',
  phone: '+8613955554444',
  nationalId: 'LEAKMARK7788',
  dateOfBirth: '1977-07-17',
  address: '12 Leakproof Marker Avenue',
};

/**
 * The real server in production mode with verbose logs: customers with marker PII are created, read,
 * looked up and sent in invalid input; neither the database dump nor any log line may contain a marker.
 */
describe('no plaintext PII in the database or the logs', () => {
  let db: TestDatabase;
  let child: ChildProcess;
  let logs = '';
  let t: Pick<TestApp, 'gql'>;
  let port: number;
  // The bootstrap admin enrolls at its first sign-in; the tests share that session.
  let adminSession: Promise<SignedIn> | undefined;
  const signedInAdmin = () => (adminSession ??= signInAdmin(t as TestApp));

  beforeAll(async () => {
    db = await createTestDatabase();
    port = await freePort();
    child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
      cwd: join(__dirname, '..', '..'),
      env: {
        PATH: process.env.PATH, NODE_ENV: 'production', PORT: String(port), DATABASE_URL: db.url, LOG_LEVEL: 'debug', TRUST_PROXY: 'loopback',
        BOOTSTRAP_ADMIN_EMAIL: TEST_ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: TEST_ADMIN.password, AUDIT_CHECKPOINT_PATH: `/tmp/${db.name}.jsonl`, ...testSecrets(),
      },
    });
    child.stdout!.on('data', (d) => (logs += d));
    child.stderr!.on('data', (d) => (logs += d));
    const base = `http://127.0.0.1:${port}`;
    for (const deadline = Date.now() + 90_000; !logs.includes('listening on'); await new Promise((r) => setTimeout(r, 250))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start: ${logs.slice(-2000)}`);
    }
    t = {
      async gql<T>(query: string, variables?: Record<string, unknown>, options: { token?: string; ip?: string } = {}): Promise<GraphQLResponse<T>> {
        const res = await fetch(`${base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': options.ip ?? randomIp(), ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
          body: JSON.stringify({ query, variables }),
        });
        const body = (await res.json()) as { data?: T; errors?: GraphQLResponse['errors'] };
        return { status: res.status, headers: Object.fromEntries(res.headers), data: body.data, errors: body.errors, body };
      },
    } as Pick<TestApp, 'gql'>;
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await db.drop();
  });

  it('logs each request once under the id it answered with, and leaves health probes out', async () => {
    const base = `http://127.0.0.1:${port}`;
    for (const path of ['/health/live', '/health/ready']) expect((await fetch(`${base}${path}`)).status).toBe(200);
    const res = await fetch(`${base}/graphql?probe=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'client-corr-1' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    await new Promise((r) => setTimeout(r, 300));
    const lines = logs.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg?: string; req?: { id?: string; path?: string; clientRequestId?: string } });
    const completed = lines.filter((line) => line.msg === 'request completed');
    expect(completed.filter((line) => line.req?.id === id)).toEqual([
      expect.objectContaining({ req: expect.objectContaining({ id, clientRequestId: 'client-corr-1', method: 'POST', path: '/graphql' }) }),
    ]);
    expect(completed.filter((line) => line.req?.path?.startsWith('/health'))).toEqual([]);
  });

  it('logs a client\'s mistakes and refusals as answers, not as server errors', async () => {
    const base = `http://127.0.0.1:${port}`;
    const post = async (query: string, token?: string) => {
      const res = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query }),
      });
      const body = (await res.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
      return { id: res.headers.get('x-request-id')!, code: body.errors?.[0]?.extensions?.code };
    };
    const agent = await createStaff(t as TestApp, await signedInAdmin(), 'AGENT');
    const answers = [
      await post('mutation { createCustomer(input: {externalRef: "log-1", email: "not an e-mail"}) { id } }', agent.accessToken),
      await post('{ users(first: 1) { totalCount } }', agent.accessToken),
      await post('{ customer(id: "00000000-0000-4000-8000-000000000000") { id } }', agent.accessToken),
      await post('{ me { id } }'),
    ];
    expect(answers.map((a) => a.code)).toEqual(['BAD_USER_INPUT', 'FORBIDDEN', 'NOT_FOUND', 'UNAUTHENTICATED']);
    await new Promise((r) => setTimeout(r, 300));
    const lines = logs.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { level: number; msg?: string; req?: { id?: string } });
    for (const { id } of answers) {
      const ofRequest = lines.filter((line) => line.req?.id === id);
      expect(ofRequest.some((line) => line.msg === 'request completed')).toBe(true);
      expect(ofRequest.filter((line) => line.level >= 50)).toEqual([]);
    }
  });

  it('finds no marker value in pg_dump or in the logs', async () => {
    const app = t as TestApp;
    const admin = await signedInAdmin();
    const agent = await createStaff(app, admin, 'AGENT');
    const officer = await createStaff(app, admin, 'COMPLIANCE_OFFICER');
    const created = await gqlOk<{ createCustomer: { id: string } }>(app.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: 'leak-1', ...MARKERS } }, agent.accessToken);
    // Literals in the document itself (not only variables) must not be logged either.
    const found = await app.gql<{ customers: { nodes: unknown[] } }>(`{ customers(filter: {email: "${MARKERS.email}"}) { nodes { fullName email phone } } }`, undefined, { token: officer.accessToken });
    expect(found.data?.customers.nodes).toEqual([{ fullName: MARKERS.fullName, email: MARKERS.email, phone: MARKERS.phone }]);
    // Without step-up the officer gets nationalId, dateOfBirth and address as null with an error; the rest in clear.
    const read = await app.gql<{ customer: Record<string, unknown> }>('query($id: ID!) { customer(id: $id) { fullName email phone nationalId dateOfBirth address } }', { id: created.createCustomer.id }, { token: officer.accessToken });
    expect(read.data?.customer).toMatchObject({ fullName: MARKERS.fullName, email: MARKERS.email, phone: MARKERS.phone });
    // Invalid input carrying PII: the error names the field, never the value.
    const bad = await app.gql(`mutation { createCustomer(input: {externalRef: "leak-2", email: "not-an-email ${MARKERS.nationalId}", phone: "${MARKERS.address}"}) { id } }`, undefined, { token: agent.accessToken });
    expect(bad.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(bad.body)).not.toContain(MARKERS.nationalId);
    const updated = await app.gql(`mutation { updateCustomer(id: "${created.createCustomer.id}", input: {address: "${MARKERS.address} 2"}) { id } }`, undefined, { token: agent.accessToken });
    expect(updated.errors).toBeUndefined();
    // Variables graphql-js cannot coerce: its messages quote the value; the client's must not.
    const CREATE = 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }';
    const undeliverable: Array<Record<string, unknown>> = [
      { ...MARKERS }, // externalRef missing: graphql-js prints the whole input object
      { externalRef: 'leak-3', ...MARKERS, transactionLimit: MARKERS.nationalId },
      { externalRef: 'leak-4', ...MARKERS, email: 12, dateOfBirth: '1977-02-30' },
      { externalRef: 'leak-5', fullName: MARKERS.fullName, phone: { value: MARKERS.phone } },
    ];
    for (const input of undeliverable) {
      for (const token of [agent.accessToken, undefined]) {
        const res = await app.gql(CREATE, { i: input }, { token });
        expect(res.errors?.length).toBeGreaterThan(0);
        const body = JSON.stringify(res.body);
        for (const value of Object.values(MARKERS)) expect({ value, inResponse: body.includes(value) }).toEqual({ value, inResponse: false });
      }
    }
    // The same twice more, so the compiled executor answers too (its own coercion, priced from memory).
    for (let i = 0; i < 2; i++) {
      const res = await app.gql(CREATE, { i: { ...MARKERS } }, { token: agent.accessToken });
      expect(JSON.stringify(res.body)).not.toContain(MARKERS.email);
    }
    // An inline literal of the wrong type: graphql-js's validation message quotes it.
    const literal = await app.gql(`mutation { createCustomer(input: {externalRef: 12, fullName: ["${MARKERS.fullName}"]}) { id } }`, undefined, { token: agent.accessToken });
    expect(literal.errors?.length).toBeGreaterThan(0);
    expect(JSON.stringify(literal.body)).not.toContain(MARKERS.fullName);

    await new Promise((r) => setTimeout(r, 500));
    expect(logs).toContain('graphql operation');
    const dump = execFileSync('pg_dump', ['--data-only', '--no-owner', db.url], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    for (const [field, value] of Object.entries(MARKERS)) {
      expect({ field, inLogs: logs.includes(value) }).toEqual({ field, inLogs: false });
      expect({ field, inDump: dump.includes(value) }).toEqual({ field, inDump: false });
    }
  });

  // Last: it stops the server the other tests use.
  it('stops on SIGTERM, saying when it starts and when it is done', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const started = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    const messages = logs.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { context?: string; msg?: string }).filter((l) => l.context === 'Shutdown').map((l) => l.msg);
    expect(messages).toEqual(['SIGTERM received: draining requests in flight, then stopping', 'stopped']);
  });
});
