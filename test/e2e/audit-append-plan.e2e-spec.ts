import { Client } from 'pg';
import { AUDIT_CHAINED_SOURCE, AUDIT_INSERT_COLUMNS } from '../../src/modules/audit/audit-entry-rows';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres';

/**
 * The sequencer's one-statement append (`audit_append_onto_head`) runs on every PII page, and PL/pgSQL plans
 * its statements generically after a few calls. Its guard must then still read the log's primary key, not
 * the whole log: on a log of 100 000 entries not one of its calls may scan the table.
 */
describe('audit_append_onto_head on a large log', () => {
  let db: TestDatabase;
  let sql: Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    await sql.query(
      `INSERT INTO audit_entry (id, occurred_at, actor_type, action, outcome, prev_hash, hash)
       SELECT g, now() - (100000 - g) * interval '1 second', 'SYSTEM', 'test.volume', 'SUCCESS', md5((g - 1)::text), md5(g::text)
         FROM generate_series(1, 100000) AS g`,
    );
    await sql.query('ANALYZE audit_entry');
  });
  afterAll(async () => {
    await sql?.end();
    await db?.drop();
  });

  const entries = (fromId: number, n: number) =>
    JSON.stringify(Array.from({ length: n }, (_, i) => ({ id: String(fromId + i), action: 'test.appended', fields: [], details: {}, hash: `h${fromId + i}` })));
  const shared = JSON.stringify({ occurred_at: new Date().toISOString(), actor_type: 'SYSTEM', outcome: 'SUCCESS' });
  const append = async (headId: number, headHash: string, n: number): Promise<number> =>
    (await sql.query('SELECT audit_append_onto_head($1, $2, $3, $4::jsonb, $5::jsonb) AS n', [1, headId, headHash, entries(headId + 1, n), shared])).rows[0].n as number;

  it('stores the columns the app\'s own insert stores, decoded the same way (the function keeps a copy of them)', async () => {
    const definition = (await sql.query(`SELECT pg_get_functiondef('audit_append_onto_head'::regproc) AS d`)).rows[0].d as string;
    const squash = (text: string) => text.replace(/\s+/g, ' ').trim();
    const between = (text: string, start: string, end: string) => squash(text.slice(text.indexOf(start) + start.length, text.indexOf(end, text.indexOf(start))));
    expect(definition).toContain('jsonb_to_recordset(entries) AS r(');
    expect(definition).toContain('jsonb_to_record(shared) AS s(');
    expect(between(definition, 'INSERT INTO audit_entry (', ')')).toBe(squash(AUDIT_INSERT_COLUMNS));
    // The recordsets' column types: rows and the shared columns, as audit-entry-rows.ts reads them.
    expect(between(definition, 'jsonb_to_recordset(entries) AS r(', '),')).toBe(between(AUDIT_CHAINED_SOURCE, 'AS r(', '),'));
    expect(between(definition, 'jsonb_to_record(shared) AS s(', ');')).toBe(between(AUDIT_CHAINED_SOURCE + ';', 'AS s(', ');'));
  });

  it('refuses to run under REPEATABLE READ, whose snapshot would predate the lock', async () => {
    await sql.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    try {
      await expect(append(100000, '14ee22eaba297944c96afdbe5b16c65b', 1)).rejects.toMatchObject({ code: '25000' });
    } finally {
      await sql.query('ROLLBACK');
    }
    expect(Number((await sql.query('SELECT count(*) AS n FROM audit_entry')).rows[0].n)).toBe(100000);
  });

  it('guards and appends on the primary key under generic plans, never scanning the log', async () => {
    await sql.query('BEGIN');
    try {
      await sql.query('SET LOCAL plan_cache_mode = force_generic_plan');
      // This backend's counts not yet flushed to the shared statistics show here too: compare with a start.
      const scans = async () => (await sql.query(`SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = 'audit_entry'`)).rows[0] as { seq_scan: string; idx_scan: string };
      const start = await scans();
      let head = 100000;
      let hash = '14ee22eaba297944c96afdbe5b16c65b'; // md5('100000')
      for (let call = 0; call < 8; call++) {
        expect(await append(head - 1, hash, 3)).toBe(0); // a stale head: nothing
        expect(await append(head, 'not-the-hash', 3)).toBe(0); // the right id, another hash: nothing
        expect(await append(head, hash, 3)).toBe(3);
        head += 3;
        hash = `h${head}`;
      }
      const end = await scans();
      expect(Number(end.seq_scan) - Number(start.seq_scan)).toBe(0);
      expect(Number(end.idx_scan) - Number(start.idx_scan)).toBeGreaterThan(0);
      const chained = await sql.query(`SELECT id, prev_hash, hash FROM audit_entry WHERE id > 100000 ORDER BY id`);
      expect(chained.rows).toHaveLength(24);
      chained.rows.forEach((r: { id: string; prev_hash: string }, i: number) => {
        expect(r.prev_hash).toBe(i === 0 ? '14ee22eaba297944c96afdbe5b16c65b' : `h${100000 + i}`);
      });
    } finally {
      await sql.query('ROLLBACK');
    }
  });
});
