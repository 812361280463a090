import { DataSource } from 'typeorm';
import { Client } from 'pg';
import { CommitRolledBack, PipeliningClient, TransactionRolledBack } from '../../src/database/pipelining-client';
import { PreparingClient, statementName } from '../../src/database/prepared-statements';
import { TransactionService } from '../../src/database/transaction.service';
import { AuditWriter } from '../../src/modules/audit/audit-writer.service';
import { startTestApp, type TestApp } from '../helpers/app';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres';

/** Round trips as the server answers them: one ReadyForQuery each. */
const countRoundTrips = (client: Client): { readonly count: number } => {
  const counter = { count: 0 };
  (client as unknown as { connection: NodeJS.EventEmitter }).connection.on('readyForQuery', () => counter.count++);
  return counter;
};

describe('PipeliningClient (transaction boundaries travel with statements)', () => {
  let db: TestDatabase;
  let other: Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    other = new Client({ connectionString: db.url });
    await other.connect();
    await other.query('CREATE TABLE pipeline_probe (id int PRIMARY KEY, note text NOT NULL)');
  });
  afterAll(async () => {
    await other.end();
    await db.drop();
  });
  beforeEach(async () => {
    await other.query('TRUNCATE pipeline_probe');
  });

  const probeIds = async (): Promise<number[]> => (await other.query('SELECT id FROM pipeline_probe ORDER BY id')).rows.map((r: { id: number }) => r.id);

  for (const [label, make] of [
    ['unnamed statements', (url: string) => new PipeliningClient({ connectionString: url })],
    ['named statements', (url: string) => new PreparingClient({ connectionString: url })],
  ] as const) {
    describe(label, () => {
      let client: PipeliningClient;
      beforeEach(async () => {
        client = make(db.url);
        await client.connect();
      });
      afterEach(async () => {
        await client.end();
      });

      it('sends BEGIN with the first statement and a held statement with COMMIT: two round trips for four statements', async () => {
        const trips = countRoundTrips(client);
        for (let i = 1; i <= 3; i++) {
          const before = trips.count;
          await client.query('START TRANSACTION');
          const { rows } = await client.query('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2) RETURNING id', [i * 10, 'first']);
          expect(rows).toEqual([{ id: i * 10 }]);
          const held = client.queryAtCommit('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2) RETURNING id, note', [i * 10 + 1, 'held']);
          // Held: not on the server before the COMMIT.
          expect((await other.query('SELECT count(*)::int AS n FROM pipeline_probe WHERE id = $1', [i * 10 + 1])).rows[0].n).toBe(0);
          const commit = await client.query('COMMIT');
          expect(commit.command).toBe('COMMIT');
          expect((await held).rows).toEqual([{ id: i * 10 + 1, note: 'held' }]);
          expect(trips.count - before).toBe(2);
        }
        expect(await probeIds()).toEqual([10, 11, 20, 21, 30, 31]);
      });

      it('runs the pipelined statements inside the transaction: one snapshot time, and a rollback takes them back', async () => {
        await client.query('BEGIN');
        const first = await client.query('SELECT now() AS at, txid_current() AS tx, $1::int AS n', [1]);
        await new Promise((r) => setTimeout(r, 20));
        const second = await client.query('SELECT now() AS at, txid_current() AS tx, $1::int AS n', [2]);
        expect(second.rows[0].at).toEqual(first.rows[0].at);
        expect(second.rows[0].tx).toBe(first.rows[0].tx);
        await client.query('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [1, 'gone']);
        await client.query('ROLLBACK');
        expect(await probeIds()).toEqual([]);
      });

      it('sends nothing for a transaction without statements', async () => {
        const trips = countRoundTrips(client);
        await client.query('BEGIN');
        expect((await client.query('COMMIT')).command).toBe('COMMIT');
        await client.query('BEGIN');
        expect((await client.query('ROLLBACK')).command).toBe('ROLLBACK');
        expect(trips.count).toBe(0);
        expect((await client.query('SELECT $1::int AS n', [1])).rows).toEqual([{ n: 1 }]);
      });

      it('keeps a failed first statement inside the transaction; the connection serves on after ROLLBACK', async () => {
        await client.query('BEGIN');
        await expect(client.query('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [1, null])).rejects.toMatchObject({ code: '23502' });
        // The server holds a failed transaction: the statement ran inside it, not on its own.
        await expect(client.query('SELECT $1::int AS n', [1])).rejects.toMatchObject({ code: '25P02' });
        await client.query('ROLLBACK');
        expect((await client.query('SELECT $1::int AS n', [2])).rows).toEqual([{ n: 2 }]);
      });

      it('fails the COMMIT with the held statement\'s error and commits nothing of the transaction', async () => {
        await client.query('BEGIN');
        await client.query('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [1, 'kept until the commit']);
        const held = client.queryAtCommit('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [1, 'duplicate key']);
        held.catch(() => undefined);
        await expect(client.query('COMMIT')).rejects.toMatchObject({ code: '23505' });
        await expect(held).rejects.toMatchObject({ code: '23505' });
        await client.query('ROLLBACK');
        expect(await probeIds()).toEqual([]);
        // The same texts work afterwards on this connection (named or not).
        await client.query('BEGIN');
        await client.query('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [2, 'a']);
        const again = client.queryAtCommit('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [3, 'b']);
        await client.query('COMMIT');
        await again;
        expect(await probeIds()).toEqual([2, 3]);
      });

      it('refuses held statements on ROLLBACK, writing none of them', async () => {
        await client.query('BEGIN');
        await client.query('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [1, 'x']);
        const held = client.queryAtCommit('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [2, 'y']);
        await client.query('ROLLBACK');
        await expect(held).rejects.toBeInstanceOf(TransactionRolledBack);
        expect(await probeIds()).toEqual([]);
      });

      it('sends several statements in one round trip, each seeing the ones before; an error skips the rest', async () => {
        const trips = countRoundTrips(client);
        await client.query('BEGIN');
        const [inserted, counted] = await client.queryPipeline([
          { text: 'INSERT INTO pipeline_probe (id, note) SELECT g, $1 FROM generate_series(1, $2::int) g RETURNING id', values: ['p', 3] },
          { text: 'SELECT count(*)::int AS n FROM pipeline_probe WHERE note = $1', values: ['p'] },
        ]);
        expect(inserted.rows).toHaveLength(3);
        expect(counted.rows).toEqual([{ n: 3 }]);
        expect(trips.count).toBe(1); // BEGIN and both statements
        await expect(
          client.queryPipeline([
            { text: 'INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', values: [1, 'duplicate'] },
            { text: 'INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', values: [99, 'skipped'] },
          ]),
        ).rejects.toMatchObject({ code: '23505' });
        await client.query('ROLLBACK');
        expect(await probeIds()).toEqual([]);
      });

      it('refuses to hold a statement with no open transaction, or once the COMMIT has gone out', async () => {
        expect(() => client.queryAtCommit('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [7, 'alone'])).toThrow(/open transaction/);
        await client.query('BEGIN');
        await client.query('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [8, 'in the transaction']);
        const committing = client.query('COMMIT');
        expect(() => client.queryAtCommit('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [9, 'too late'])).toThrow(/open transaction/);
        await committing;
        expect(await probeIds()).toEqual([8]);
      });

      it('fails a COMMIT the server answered with ROLLBACK (an error the caller swallowed had aborted the transaction)', async () => {
        await client.query('BEGIN');
        await client.query('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [1, 'lost with the transaction']);
        await client.query('SELECT 1 / $1::int', [0]).catch(() => undefined);
        await expect(client.query('COMMIT')).rejects.toBeInstanceOf(CommitRolledBack);
        expect(await probeIds()).toEqual([]);
        expect((await client.query('SELECT $1::int AS n', [1])).rows).toEqual([{ n: 1 }]);
      });

      it('reports a committed transaction as committed when a held statement\'s reply could not be read', async () => {
        // 600: point
        client.setTypeParser(600 as Parameters<Client['setTypeParser']>[0], () => {
          throw new Error('point parser failed');
        });
        await client.query('BEGIN');
        await client.query('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [1, 'committed']);
        const held = client.queryAtCommit('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2) RETURNING point(1, 2) AS p', [2, 'committed too']);
        expect((await client.query('COMMIT')).command).toBe('COMMIT');
        await expect(held).rejects.toThrow('point parser failed');
        expect(await probeIds()).toEqual([1, 2]);
      });

      it('sends BEGIN first for a query it does not pipeline (a config object), so it runs inside the transaction', async () => {
        await client.query('BEGIN');
        await client.query({ text: 'INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', values: [1, 'config object'] });
        await client.query('ROLLBACK');
        expect(await probeIds()).toEqual([]);
      });

      it('refuses what it held when the connection is lost before the commit', async () => {
        await client.query('BEGIN');
        const [{ pid }] = (await client.query('SELECT pg_backend_pid() AS pid, $1::int AS n', [1])).rows as Array<{ pid: number }>;
        const held = client.queryAtCommit('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [1, 'never sent']);
        const lost = new Promise((resolve) => client.once('end', resolve));
        await other.query('SELECT pg_terminate_backend($1)', [pid]);
        await lost;
        await expect(held).rejects.toThrow(/connection was lost/);
        expect(await probeIds()).toEqual([]);
      });

      it('sends a first statement without parameters with BEGIN too, several statements included', async () => {
        await client.query('BEGIN');
        const results = (await client.query("INSERT INTO pipeline_probe VALUES (1, 'a'); INSERT INTO pipeline_probe VALUES (2, 'b')")) as unknown as Array<{ command: string }>;
        expect(results.map((r) => r.command)).toEqual(['INSERT', 'INSERT']);
        const single = await client.query('SELECT count(*)::int AS n FROM pipeline_probe');
        expect(single.rows).toEqual([{ n: 2 }]);
        await client.query('ROLLBACK');
        expect(await probeIds()).toEqual([]);
      });

      it('refuses an unencodable parameter before sending anything, and the transaction goes on', async () => {
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        await client.query('BEGIN');
        await expect(client.query('SELECT $1::jsonb AS j', [circular])).rejects.toThrow(/circular/i);
        await client.query('INSERT INTO pipeline_probe (id, note) VALUES ($1, $2)', [5, 'after']);
        // A held statement that can never be sent fails at once, so its transaction cannot commit without it.
        expect(() => client.queryAtCommit('SELECT $1::jsonb AS j', [circular])).toThrow(/circular/i);
        await client.query('COMMIT');
        expect(await probeIds()).toEqual([5]);
      });
    });
  }

  it('names a held statement once even when one commit carries it twice, and reuses the name after', async () => {
    const client = new PreparingClient({ connectionString: db.url });
    await client.connect();
    try {
      const text = 'INSERT INTO pipeline_probe (id, note) VALUES ($1, $2) RETURNING id';
      for (let round = 0; round < 3; round++) {
        await client.query('BEGIN');
        const held = [1, 2].map((k) => client.queryAtCommit(text, [round * 10 + k, 'held']));
        await client.query('COMMIT');
        expect((await Promise.all(held)).map((r) => r.rows[0].id)).toEqual([round * 10 + 1, round * 10 + 2]);
      }
      const prepared = (await client.query('SELECT name FROM pg_prepared_statements')).rows.map((r: { name: string }) => r.name);
      expect(prepared).toEqual([statementName(text)]);
      expect(await probeIds()).toEqual([1, 2, 11, 12, 21, 22]);
    } finally {
      await client.end();
    }
  });
});

it('prepares again under a new name when the server already holds the name (42P05)', async () => {
  const db = await createTestDatabase();
  const client = new PreparingClient({ connectionString: db.url });
  await client.connect();
  try {
    const text = 'SELECT $1::int + 1 AS n';
    // The server holds the name this client will choose, unknown to the client (as after a Parse whose
    // reply was never read).
    await client.query(`PREPARE "${statementName(text)}" AS ${text}`);
    expect((await client.query(text, [1])).rows).toEqual([{ n: 2 }]); // first use: unnamed
    // Named from here, the name is taken: outside a transaction the refused statement is sent again at once…
    expect((await client.query(text, [2])).rows).toEqual([{ n: 3 }]);
    expect((await client.query(text, [3])).rows).toEqual([{ n: 4 }]);
    // … and the client moved to a new name.
    expect(client.preparedName(text)).not.toBe(statementName(text));
    const names = ((await client.query('SELECT name FROM pg_prepared_statements ORDER BY name')).rows as Array<{ name: string }>).map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining([statementName(text), client.preparedName(text)]));
    // Inside a transaction the refusal is the caller's to see.
    const other = 'SELECT $1::int + 2 AS n';
    await client.query(`PREPARE "${statementName(other)}" AS ${other}`);
    await client.query(other, [1]); // first use: unnamed
    await client.query('BEGIN');
    await expect(client.query(other, [1])).rejects.toMatchObject({ code: '42P05' });
    await client.query('ROLLBACK');
    expect((await client.query(other, [1])).rows).toEqual([{ n: 3 }]);
  } finally {
    await client.end();
    await db.drop();
  }
});

describe('the app pool pipelines its transactions', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app.close();
  });

  it('sends an audited transaction as three round trips: BEGIN with the first statement, the audit entry with COMMIT', async () => {
    const tx = app.app.get(TransactionService);
    const audit = app.app.get(AuditWriter);
    let tripsAtCommit: number | undefined;
    await tx.run(async (manager) => {
      const runner = manager.queryRunner as unknown as { databaseConnection: Client };
      await manager.query('SELECT $1::int AS n', [1]);
      const trips = countRoundTrips(runner.databaseConnection);
      await manager.query('SELECT $1::int AS n', [2]);
      await audit.record({ action: 'test.pipelined', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'pipelined-1' });
      // Read once committed, before the chaining (which may borrow the same connection) runs.
      tx.afterCommit(() => (tripsAtCommit = trips.count));
    });
    // After the first statement (sent with BEGIN): the second, then the audit entry with the COMMIT.
    expect(tripsAtCommit).toBe(2);
    const [row] = (await app.app.get(DataSource).query(`SELECT count(*)::int AS n FROM audit_entry WHERE resource_id = 'pipelined-1'`)) as Array<{ n: number }>;
    expect(row.n).toBe(1);
  });

  it('runs TransactionService.pipeline in one round trip, reporting a failure as TypeORM does', async () => {
    const tx = app.app.get(TransactionService);
    let trips: { readonly count: number } | undefined;
    const rows = await tx.run(async (manager) => {
      await manager.query('SELECT $1::int AS n', [1]);
      trips = countRoundTrips((manager.queryRunner as unknown as { databaseConnection: Client }).databaseConnection);
      return tx.pipeline(manager, [
        { text: 'CREATE TEMP TABLE pipelined_probe AS SELECT g AS n FROM generate_series(1, $1::int) g', values: [4] },
        { text: 'SELECT sum(n)::int AS total FROM pipelined_probe WHERE n <= $1', values: [3] },
      ]);
    });
    expect(rows[1]).toEqual([{ total: 6 }]);
    expect(trips?.count).toBe(2); // the pipeline, then the COMMIT
    await expect(
      tx.run((manager) =>
        tx.pipeline(manager, [
          { text: 'SELECT 1 / $1::int AS n', values: [0] },
          { text: 'SELECT $1::int AS n', values: [1] },
        ]),
      ),
    ).rejects.toMatchObject({ driverError: expect.objectContaining({ code: '22012' }) });
  });

  it('writes a statement held at a savepoint at once, so that rolling back to the savepoint takes it back', async () => {
    const tx = app.app.get(TransactionService);
    const runner = app.app.get(DataSource).createQueryRunner();
    try {
      await runner.startTransaction();
      await runner.query('CREATE TABLE savepoint_probe (n int)');
      await runner.startTransaction(); // a savepoint
      const { rows } = await tx.atCommit<{ n: number }>(runner.manager, 'INSERT INTO savepoint_probe VALUES ($1) RETURNING n', [1]);
      expect(await rows).toEqual([{ n: 1 }]); // written already
      await runner.rollbackTransaction(); // to the savepoint
      await runner.commitTransaction();
    } finally {
      await runner.release();
    }
    expect(await app.app.get(DataSource).query('SELECT count(*)::int AS n FROM savepoint_probe')).toEqual([{ n: 0 }]);
  });

  it('rolls back the transaction when its audit entry cannot be written, and chains nothing', async () => {
    const tx = app.app.get(TransactionService);
    const audit = app.app.get(AuditWriter);
    await expect(
      tx.run(async (manager) => {
        await manager.query(`CREATE TABLE rolled_back_probe (n int)`);
        // A NUL character is refused by PostgreSQL's text type: the held insert fails at the commit.
        await audit.record({ action: 'test.pipelined', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'pipelined-\u0000' });
      }),
    ).rejects.toThrow();
    const [row] = (await app.app.get(DataSource).query(
      `SELECT to_regclass('rolled_back_probe') IS NULL AS gone, (SELECT count(*)::int FROM audit_entry WHERE action = 'test.pipelined' AND resource_id <> 'pipelined-1') AS chained,
              (SELECT count(*)::int FROM audit_entry_pending) AS pending`,
    )) as Array<{ gone: boolean; chained: number; pending: number }>;
    expect(row).toEqual({ gone: true, chained: 0, pending: 0 });
  });
});
