import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Client } from 'pg';
import { MAX_PREPARED_PER_CONNECTION, PreparingClient, statementName } from '../../src/database/prepared-statements';
import { TransactionService } from '../../src/database/transaction.service';
import { CustomersService } from '../../src/modules/customers/customers.service';
import { startTestApp, type TestApp } from '../helpers/app';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres';

type Prepared = { name: string; statement: string; generic_plans: string; custom_plans: string };
const preparedOf = async (client: Client): Promise<Prepared[]> =>
  (await client.query(`SELECT name, statement, generic_plans::text, custom_plans::text FROM pg_prepared_statements ORDER BY name`)).rows as Prepared[];

describe('PreparingClient (named statements on a real PostgreSQL)', () => {
  let db: TestDatabase;
  let client: PreparingClient;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });
  beforeEach(async () => {
    client = new PreparingClient({ connectionString: db.url });
    await client.connect();
  });
  afterEach(async () => {
    await client.end();
  });

  it('names a parameterised text from its second use and reuses its generic plan', async () => {
    const text = 'SELECT id FROM app_user WHERE id = $1';
    await client.query(text, ['00000000-0000-4000-8000-000000000000']);
    expect(await preparedOf(client)).toEqual([]); // a one-off text takes no slot
    for (let i = 0; i < 8; i++) await client.query(text, ['00000000-0000-4000-8000-000000000000']);
    const prepared = await preparedOf(client);
    expect(prepared).toEqual([expect.objectContaining({ name: statementName(text), statement: text })]);
    // plan_cache_mode = auto: five custom plans, then the generic one is kept.
    expect(Number(prepared[0].generic_plans)).toBeGreaterThan(0);
    expect(Number(prepared[0].custom_plans)).toBeLessThanOrEqual(5);
  });

  it('leaves statements without parameters unnamed', async () => {
    await client.query('SELECT 1');
    await client.query('SELECT 1');
    await client.query('SELECT $1::int AS n', [1]);
    await client.query('SELECT $1::int AS n', [1]);
    expect((await preparedOf(client)).map((p) => p.statement)).toEqual(['SELECT $1::int AS n']);
  });

  it('names at most MAX_PREPARED_PER_CONNECTION texts; later ones still run, unnamed', async () => {
    for (let i = 0; i < MAX_PREPARED_PER_CONNECTION + 5; i++) {
      for (let use = 0; use < 2; use++) {
        const { rows } = await client.query(`SELECT $1::int + ${i} AS n`, [1]);
        expect(rows[0].n).toBe(1 + i);
      }
    }
    expect(client.preparedCount).toBe(MAX_PREPARED_PER_CONNECTION);
    expect(await preparedOf(client)).toHaveLength(MAX_PREPARED_PER_CONNECTION);
  });

  it('recovers from a migration that changes the columns a prepared statement returns', async () => {
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('CREATE TABLE prepared_probe (a int)');
      await other.query('INSERT INTO prepared_probe VALUES (1)');
      const text = 'SELECT * FROM prepared_probe WHERE a = $1';
      expect((await client.query(text, [1])).rows).toEqual([{ a: 1 }]);
      expect((await client.query(text, [1])).rows).toEqual([{ a: 1 }]); // named from this use
      await other.query('ALTER TABLE prepared_probe ADD COLUMN b int DEFAULT 7');
      // Alone, the statement PostgreSQL refuses as stale (it did not run) is sent again at once: no error.
      expect((await client.query(text, [1])).rows).toEqual([{ a: 1, b: 7 }]);
      expect((await client.query(text, [1])).rows).toEqual([{ a: 1, b: 7 }]); // named again, under a new name
      expect((await preparedOf(client)).filter((p) => p.statement === text)).toHaveLength(2); // the stale one and the new one
      // Inside a transaction the refusal aborts it, so the caller sees it, from the routine the client keys on
      // (the message may be translated); the next use prepares the text again.
      await other.query('ALTER TABLE prepared_probe ADD COLUMN c int DEFAULT 8');
      await client.query('BEGIN');
      await expect(client.query(text, [1])).rejects.toMatchObject({ code: '0A000', routine: 'RevalidateCachedQuery' });
      await client.query('ROLLBACK');
      expect((await client.query(text, [1])).rows).toEqual([{ a: 1, b: 7, c: 8 }]);
      expect((await client.query(text, [1])).rows).toEqual([{ a: 1, b: 7, c: 8 }]);
    } finally {
      await other.query('DROP TABLE IF EXISTS prepared_probe');
      await other.end();
    }
  });

  it('prepares again after a parameter could not be encoded (pg then closes the statement on the server)', async () => {
    const text = 'SELECT $1::jsonb AS doc';
    expect((await client.query(text, [{ a: 1 }])).rows).toEqual([{ doc: { a: 1 } }]);
    expect((await client.query(text, [{ a: 1 }])).rows).toEqual([{ doc: { a: 1 } }]);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(client.query(text, [circular])).rejects.toThrow();
    expect((await client.query(text, [{ b: 2 }])).rows).toEqual([{ doc: { b: 2 } }]);
  });

  it('keeps the statement prepared under its name after an ordinary error such as a constraint', async () => {
    const text = 'SELECT 1 / $1::int AS n';
    expect((await client.query(text, [1])).rows).toEqual([{ n: 1 }]);
    await expect(client.query(text, [0])).rejects.toMatchObject({ code: '22012' });
    expect((await client.query(text, [1])).rows).toEqual([{ n: 1 }]);
    expect(client.preparedName(text)).toBe(statementName(text));
    expect((await preparedOf(client)).map((p) => p.name)).toEqual([statementName(text)]);
  });

  it('prepares again after the session dropped its statements (DEALLOCATE ALL, as a pooler may)', async () => {
    const text = 'SELECT $1::text AS v';
    expect((await client.query(text, ['a'])).rows).toEqual([{ v: 'a' }]);
    expect((await client.query(text, ['a'])).rows).toEqual([{ v: 'a' }]);
    await client.query('DEALLOCATE ALL');
    // Alone, the refused statement (it did not run) is sent again at once: the caller sees no error.
    expect((await client.query(text, ['b'])).rows).toEqual([{ v: 'b' }]);
    expect((await client.query(text, ['c'])).rows).toEqual([{ v: 'c' }]);
    // Inside a transaction the refusal aborts it, so the caller sees it, once.
    expect((await client.query(text, ['d'])).rows).toEqual([{ v: 'd' }]);
    await client.query('DEALLOCATE ALL');
    await client.query('BEGIN');
    await expect(client.query(text, ['e'])).rejects.toMatchObject({ code: '26000' });
    await client.query('ROLLBACK');
    expect((await client.query(text, ['f'])).rows).toEqual([{ v: 'f' }]);
  });

  it('a statement first sent in an aborted transaction is prepared on its next use', async () => {
    const text = 'SELECT $1::int * 2 AS n';
    expect((await client.query(text, [1])).rows).toEqual([{ n: 2 }]); // its first use, unnamed: the next one is named
    await client.query('BEGIN');
    await expect(client.query('SELECT 1 / 0')).rejects.toMatchObject({ code: '22012' });
    await expect(client.query(text, [2])).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    expect((await client.query(text, [3])).rows).toEqual([{ n: 6 }]);
    expect((await preparedOf(client)).map((p) => p.statement)).toContain(text);
  });

  it('a statement prepared inside a rolled-back transaction stays usable', async () => {
    const text = 'SELECT $1::int + 100 AS n';
    await client.query('BEGIN');
    expect((await client.query(text, [1])).rows).toEqual([{ n: 101 }]);
    expect((await client.query(text, [1])).rows).toEqual([{ n: 101 }]);
    await client.query('ROLLBACK');
    expect((await client.query(text, [2])).rows).toEqual([{ n: 102 }]);
  });
});

describe('the app pool', () => {
  const namedInSession = async (app: TestApp): Promise<string[]> => {
    const runner = app.app.get(DataSource).createQueryRunner();
    try {
      // Twice on one connection of the pool, then read that session's prepared statements.
      await runner.query('SELECT id FROM app_user WHERE email = $1', ['x@y.test']);
      await runner.query('SELECT id FROM app_user WHERE email = $1', ['x@y.test']);
      return ((await runner.query('SELECT statement FROM pg_prepared_statements')) as Array<{ statement: string }>).map((r) => r.statement);
    } finally {
      await runner.release();
    }
  };

  it('prepares its statements on PostgreSQL by default', async () => {
    const app = await startTestApp();
    try {
      expect(app.config.databasePreparedStatements).toBe(true);
      expect(await namedInSession(app)).toContain('SELECT id FROM app_user WHERE email = $1');
    } finally {
      await app.close();
    }
  });

  it('keeps generic plans for the one-customer look-up of the ingest path', async () => {
    const app = await startTestApp();
    try {
      const customers = app.app.get(CustomersService);
      const plans = await app.app.get(TransactionService).run(async (manager) => {
        // On the transaction's one connection: more executions than the custom plans PostgreSQL tries first.
        for (let i = 0; i < 8; i++) await customers.snapshots([randomUUID()], []);
        for (let i = 0; i < 8; i++) await customers.snapshots([], [`ref-${i}`]);
        return (await manager.query(`SELECT statement, generic_plans::int AS generic FROM pg_prepared_statements WHERE statement LIKE '%FROM customer WHERE%'`)) as Array<{ statement: string; generic: number }>;
      });
      expect(plans).toHaveLength(2);
      for (const p of plans) expect(p.generic).toBeGreaterThan(0);
    } finally {
      await app.close();
    }
  });

  it('sends them unnamed with DATABASE_PREPARED_STATEMENTS=false', async () => {
    const app = await startTestApp({ DATABASE_PREPARED_STATEMENTS: 'false' });
    try {
      expect(await namedInSession(app)).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
