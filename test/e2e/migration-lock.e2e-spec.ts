import { readdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options';
import { runMigrations } from '../../src/database/migrate';
import { adminQuery, serverUrl, uniqueName } from '../helpers/postgres';

/**
 * Several instances start together on a new release: each runs the start-up migrations. They must take
 * turns (one applies, the others find nothing pending) instead of racing through the same migrations.
 */
describe('start-up migrations under concurrency', () => {
  const name = uniqueName('custos_migr');
  const url = serverUrl(name);
  const migrationCount = readdirSync(join(__dirname, '..', '..', 'migrations')).filter((f) => /^\d+-.+\.ts$/.test(f)).length;

  beforeAll(() => adminQuery(`CREATE DATABASE ${name}`));
  afterAll(() => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));

  it('two runs at once on a fresh database both succeed and apply each migration once', async () => {
    const results = await Promise.allSettled([runMigrations(url), runMigrations(url), runMigrations(url)]);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String((r.reason as Error)?.message ?? r.reason));
    expect(failures).toEqual([]);
    const applied = results.map((r) => (r as PromiseFulfilledResult<string[]>).value);
    // One run applied everything; the others, waiting behind it, found nothing pending.
    expect(applied.map((a) => a.length).sort((a, b) => a - b)).toEqual([0, 0, migrationCount]);

    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string; n: number }>('SELECT name, count(*)::int AS n FROM schema_migrations GROUP BY name');
      expect(rows).toHaveLength(migrationCount);
      expect(rows.filter((r) => r.n !== 1)).toEqual([]);
      // The lock is a session lock of the run's own connection: nothing is left held once the runs are over.
      const { rows: held } = await client.query(`SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = $1`, [name]);
      expect(held).toEqual([]);
    } finally {
      await client.end();
    }
  }, 120_000);

  it('a later run with nothing pending applies nothing', async () => {
    expect(await runMigrations(url)).toEqual([]);
  });

  it('a new release: instances starting together apply its pending migration once ("column already exists" before)', async () => {
    // Take the last migration back, as if the database were one release behind.
    const ds = new DataSource(dataSourceOptions(url, { extra: { max: 1 } }));
    await ds.initialize();
    try {
      await ds.undoLastMigration({ transaction: 'each' });
    } finally {
      await ds.destroy();
    }
    const results = await Promise.allSettled([runMigrations(url), runMigrations(url), runMigrations(url), runMigrations(url)]);
    expect(results.filter((r) => r.status === 'rejected').map((r) => String(((r as PromiseRejectedResult).reason as Error)?.message))).toEqual([]);
    const applied = results.map((r) => (r as PromiseFulfilledResult<string[]>).value);
    expect(applied.flat()).toHaveLength(1);
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations WHERE name = $1', [applied.flat()[0]]);
      expect(rows[0].n).toBe(1);
    } finally {
      await client.end();
    }
  }, 60_000);
});

describe('start-up migrations against a database that never answers', () => {
  it('give up when the connection does not open in time, instead of holding start-up silent', async () => {
    // Accepts TCP connections and never says a word, like a half-up host.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      await expect(runMigrations(`postgres://postgres@127.0.0.1:${port}/custos`, { connectTimeoutMs: 500 })).rejects.toThrow(/timeout/i);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
