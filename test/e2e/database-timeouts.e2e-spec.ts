import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { startTestApp, type GraphQLResponse, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { within } from '../helpers/time';

const CREATE = 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }';
const UPDATE = 'mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i) { id } }';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const codeOf = (res: GraphQLResponse) => res.errors?.[0]?.extensions?.code;

/** A side connection, as an operator's psql session would be: it holds locks the app then runs into. */
async function sideClient(t: TestApp): Promise<Client> {
  const client = new Client({ connectionString: t.db.url, application_name: 'operator' });
  await client.connect();
  return client;
}

async function setUp(env: Record<string, string>): Promise<{ t: TestApp; co: SignedIn; customerId: string }> {
  const t = await startTestApp(env);
  const admin = await signInAdmin(t);
  const co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
  const { createCustomer } = await gqlOk<{ createCustomer: { id: string } }>(t.gql, CREATE, { i: { externalRef: `locked-${Date.now()}`, fullName: 'Locked Person' } }, co.accessToken);
  return { t, co, customerId: createCustomer.id };
}

describe('database timeouts: a stuck lock never hangs the app', () => {
  describe('statement and idle-in-transaction timeouts', () => {
    let t: TestApp;
    let co: SignedIn;
    let customerId: string;
    let side: Client;

    beforeAll(async () => {
      ({ t, co, customerId } = await setUp({
        DATABASE_STATEMENT_TIMEOUT_MS: '1000',
        DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '1500',
        DATABASE_POOL_ACQUIRE_TIMEOUT_MS: '1000',
      }));
      side = await sideClient(t);
    });

    afterAll(async () => {
      await side?.end().catch(() => undefined);
      await t?.close();
    });

    it("the app pool's sessions carry the configured timeouts", async () => {
      const ds = t.app.get(DataSource);
      const [row] = (await ds.query(
        `SELECT current_setting('statement_timeout') AS statement, current_setting('idle_in_transaction_session_timeout') AS idle`,
      )) as Array<{ statement: string; idle: string }>;
      expect(row).toEqual({ statement: '1s', idle: '1500ms' });
    });

    it('a mutation waiting on a row lock answers SERVICE_UNAVAILABLE within seconds, then succeeds once the lock is gone', async () => {
      await side.query('BEGIN');
      await side.query('SELECT id FROM customer WHERE id = $1 FOR UPDATE', [customerId]);
      try {
        const started = Date.now();
        const res = await within(8000, t.gql(UPDATE, { id: customerId, i: { fullName: 'Blocked Rename' } }, { token: co.accessToken }), 'updateCustomer behind a row lock');
        const elapsed = Date.now() - started;
        expect(res.data?.updateCustomer ?? null).toBeNull();
        expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true, reason: 'STATEMENT_TIMEOUT' });
        // No SQL, no driver text.
        expect(res.errors![0].message).not.toMatch(/customer|select|update|statement timeout/i);
        expect(elapsed).toBeLessThan(5000);

        // Readiness is about the pool and the schema: a lock on one row leaves it ready, and it answers at once.
        const ready = await within(3000, t.http().get('/health/ready'), '/health/ready');
        expect(ready.status).toBe(200);
      } finally {
        await side.query('ROLLBACK');
      }
      const after = await within(5000, t.gql(UPDATE, { id: customerId, i: { fullName: 'Free Rename' } }, { token: co.accessToken }), 'updateCustomer after the lock');
      expect(after.errors).toBeUndefined();
      expect(after.data?.updateCustomer).toEqual({ id: customerId });
    });

    it('a table lock held by an operator gives the same answer, and the app recovers when it is released', async () => {
      await side.query('BEGIN');
      await side.query('LOCK TABLE customer IN EXCLUSIVE MODE');
      try {
        const res = await within(8000, t.gql(CREATE, { i: { externalRef: `behind-lock-${Date.now()}` } }, { token: co.accessToken }), 'createCustomer behind a table lock');
        expect(codeOf(res)).toBe('SERVICE_UNAVAILABLE');
        expect(res.errors![0].extensions).toMatchObject({ retryable: true });
        expect(typeof res.errors![0].extensions!.retryAfterSeconds).toBe('number');
      } finally {
        await side.query('ROLLBACK');
      }
      const res = await within(5000, t.gql(CREATE, { i: { externalRef: `after-lock-${Date.now()}` } }, { token: co.accessToken }), 'createCustomer after the lock');
      expect(res.errors).toBeUndefined();
    });

    it('a readiness probe that times out on the migrations table hands its connection back to the pool', async () => {
      const pool = (t.app.get(DataSource).driver as unknown as { master: { totalCount: number; idleCount: number } }).master;
      await side.query('BEGIN');
      await side.query('LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE');
      try {
        const res = await within(8000, t.http().get('/health/ready'), '/health/ready behind a locked migrations table');
        expect(res.status).toBe(503);
        expect(res.body).toMatchObject({ status: 'unavailable', database: 'up', migrations: 'unknown' });
      } finally {
        await side.query('ROLLBACK');
      }
      // The probe may have answered before its statement ended; once it has, every connection is idle again
      // (failing probes cannot drain the pool).
      const deadline = Date.now() + 3000;
      while (pool.totalCount - pool.idleCount > 0 && Date.now() < deadline) await sleep(50);
      expect(pool.totalCount - pool.idleCount).toBe(0);
      const ready = await within(3000, t.http().get('/health/ready'), '/health/ready after the lock');
      expect(ready.status).toBe(200);
    });

    it('readiness reports a missing or incomplete migrations table as pending, and never creates it', async () => {
      const [last] = (await side.query('DELETE FROM schema_migrations WHERE id = (SELECT max(id) FROM schema_migrations) RETURNING id, timestamp, name')).rows as Array<{ id: number; timestamp: string; name: string }>;
      try {
        const res = await within(3000, t.http().get('/health/ready'), '/health/ready with a migration unrecorded');
        expect(res.status).toBe(503);
        expect(res.body).toMatchObject({ database: 'up', migrations: 'pending' });
      } finally {
        await side.query('INSERT INTO schema_migrations (id, timestamp, name) VALUES ($1, $2, $3)', [last.id, last.timestamp, last.name]);
      }
      await side.query('ALTER TABLE schema_migrations RENAME TO schema_migrations_aside');
      try {
        const res = await within(3000, t.http().get('/health/ready'), '/health/ready without a migrations table');
        expect(res.status).toBe(503);
        expect(res.body).toMatchObject({ database: 'up', migrations: 'pending' });
        const { rows } = await side.query(`SELECT to_regclass('schema_migrations') AS created`);
        expect(rows[0].created).toBeNull();
      } finally {
        await side.query('ALTER TABLE schema_migrations_aside RENAME TO schema_migrations');
      }
      expect((await t.http().get('/health/ready')).status).toBe(200);
    });

    it('a transaction left idle is ended by the server, its locks go with it, and the pool goes on serving', async () => {
      const ds = t.app.get(DataSource);
      const runner = ds.createQueryRunner();
      await runner.connect();
      await runner.startTransaction();
      await runner.query('SELECT id FROM customer WHERE id = $1 FOR UPDATE', [customerId]);
      await sleep(2500);
      // The server ended the session (25P03) and with it the transaction: the row is free for others.
      await side.query('BEGIN');
      try {
        await expect(side.query('SELECT id FROM customer WHERE id = $1 FOR UPDATE NOWAIT', [customerId])).resolves.toMatchObject({ rowCount: 1 });
      } finally {
        await side.query('ROLLBACK');
      }
      // pg reports the FATAL as the connection's error while idle; TypeORM then releases the runner.
      await expect(within(5000, runner.query('SELECT 1'), 'query after idling in a transaction')).rejects.toThrow();
      await runner.release().catch(() => undefined);
      const [row] = (await within(3000, ds.query('SELECT 1 AS one'), 'pool after an ended session')) as Array<{ one: number }>;
      expect(row.one).toBe(1);
    });
  });

  describe('a full pool, and a session ended under a request', () => {
    let t: TestApp;
    let co: SignedIn;
    let customerId: string;
    let side: Client;

    beforeAll(async () => {
      // A long statement timeout: transactions stuck behind the lock keep their connections until it is released.
      // One request a minute without a valid credential per address: shows whether an outage was counted.
      ({ t, co, customerId } = await setUp({ DATABASE_STATEMENT_TIMEOUT_MS: '20000', DATABASE_POOL_ACQUIRE_TIMEOUT_MS: '1000', RATE_LIMIT_UNAUTHENTICATED_PER_IP_PER_MINUTE: '1' }));
      side = await sideClient(t);
    });

    afterAll(async () => {
      await side?.end().catch(() => undefined);
      await t?.close();
    });

    it('answers SERVICE_UNAVAILABLE and reports not-ready within the acquire timeout, and recovers once the lock is released', async () => {
      await side.query('BEGIN');
      await side.query('SELECT id FROM customer WHERE id = $1 FOR UPDATE', [customerId]);
      let stuck: Array<Promise<GraphQLResponse>> = [];
      try {
        // More writers than the pool has connections (20): those that got one wait on the lock with it.
        stuck = Array.from({ length: 24 }, (_, i) => t.gql(UPDATE, { id: customerId, i: { fullName: `Writer ${i}` } }, { token: co.accessToken }));
        await sleep(2500);

        const started = Date.now();
        const ready = await within(5000, t.http().get('/health/ready'), '/health/ready with a full pool');
        expect(ready.status).toBe(503);
        expect(ready.body).toMatchObject({ status: 'unavailable', database: 'timeout' });
        expect(Date.now() - started).toBeLessThan(4000);

        // Bounded, though possibly by a few acquire timeouts rather than one (the audit sequencer's fallback
        // retries each caller's entry with its own acquire).
        const me = await within(15_000, t.gql('{ me { id } }', undefined, { token: co.accessToken, ip: '192.0.2.77' }), 'a query with a full pool');
        expect(me.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true, reason: 'POOL_EXHAUSTED' });
      } finally {
        await side.query('ROLLBACK');
      }
      const results = await within(15_000, Promise.all(stuck), 'the writers once the lock is released');
      // Writers that got a connection went through; the ones that found the pool full were told to retry.
      for (const r of results) {
        if (r.errors) expect(codeOf(r)).toBe('SERVICE_UNAVAILABLE');
        else expect(r.data?.updateCustomer).toEqual({ id: customerId });
      }
      // A failed write whose own audit entry could not be written either is still the retryable answer the
      // client can act on, not a server failure: the lost entry is logged instead.
      expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
      expect(results.some((r) => !r.errors)).toBe(true);
      expect(results.some((r) => r.errors)).toBe(true);

      const ready = await within(5000, t.http().get('/health/ready'), '/health/ready after release');
      expect(ready.status).toBe(200);
      const after = await within(5000, t.gql(UPDATE, { id: customerId, i: { fullName: 'After The Storm' } }, { token: co.accessToken }), 'a write after release');
      expect(after.errors).toBeUndefined();
      // The credential was good: a principal lookup the database could not answer was not counted against
      // the client's address as a refused credential, so its one allowed refusal is still there.
      expect(codeOf(await t.gql('{ me { id } }', undefined, { ip: '192.0.2.77' }))).toBe('UNAUTHENTICATED');
      expect(codeOf(await t.gql('{ me { id } }', undefined, { ip: '192.0.2.77' }))).toBe('RATE_LIMITED');
    }, 60_000);

    // The same app: a long statement timeout, so the waiting session is ended by the test, not the server.
    it('a session ended under a request (a restart, a failover, an operator) answers SERVICE_UNAVAILABLE, and the next request is served', async () => {
      await side.query('BEGIN');
      await side.query('SELECT id FROM customer WHERE id = $1 FOR UPDATE', [customerId]);
      let res: GraphQLResponse;
      try {
        const pending = t.gql(UPDATE, { id: customerId, i: { fullName: 'Cut Off' } }, { token: co.accessToken });
        // The app's session waiting on the lock is ended as a server shutdown or pg_terminate_backend would end it.
        let ended = 0;
        for (const deadline = Date.now() + 10_000; !ended && Date.now() < deadline; await sleep(50)) {
          const { rows } = await side.query(
            `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
          );
          ended = rows.filter((r: { ended: boolean }) => r.ended).length;
        }
        expect(ended).toBe(1);
        res = await within(10_000, pending, 'updateCustomer whose session was ended');
      } finally {
        await side.query('ROLLBACK');
      }
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true, reason: 'DATABASE_UNREACHABLE' });
      expect(res.errors![0].message).not.toMatch(/terminat|administrator|customer/i);
      const after = await within(5000, t.gql(UPDATE, { id: customerId, i: { fullName: 'Back Again' } }, { token: co.accessToken }), 'a write after the session was ended');
      expect(after.errors).toBeUndefined();
      expect(after.data?.updateCustomer).toEqual({ id: customerId });
    });
  });
});
