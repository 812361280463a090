import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { AuditWriter } from '../../src/modules/audit/audit-writer.service';
import { AUDIT_LOCKS } from '../../src/modules/audit/audit.settings';
import { installRecurringJobs } from '../../src/common/jobs/recurring-jobs.service';
import { installJobQueue } from '../../src/modules/monitoring/webhooks/webhook-queue.service';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';
import { adminQuery, uniqueName } from '../helpers/postgres';

const VERIFY = `query { verifyAuditChain { valid checked unsealed reason } }`;

/**
 * docs/app-role.sql as psql would run it with `-v app_role=…` in database `database`: its variables
 * substituted, its psql meta-commands and comments dropped. The file itself is what is tested.
 */
function grantsScript(role: string, database: string): string[] {
  const text = readFileSync(join(__dirname, '../../docs/app-role.sql'), 'utf8');
  return text
    .split('\n')
    .filter((line) => !line.startsWith('--') && !line.startsWith('\\'))
    .join('\n')
    .replace(/:"app_role"/g, `"${role}"`)
    .replace(/:"DBNAME"/g, `"${database}"`)
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The service run as the documented least-privilege role (docs/AUDIT.md): a login role that owns nothing,
 * given exactly docs/app-role.sql after `npm run migration:run`'s work was done by the owner. It starts,
 * audits, ingests and chains; and it cannot make a pending audit entry disappear.
 */
describe('least-privilege application role', () => {
  const role = uniqueName('custos_app');
  let t: TestApp;
  let asApp: Client;
  let asOwner: Client;
  let admin: SignedIn;
  let auditor: SignedIn;

  beforeAll(async () => {
    await adminQuery(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`);
    t = await startTestApp({}, {
      prepare: async (db) => {
        // What `npm run migration:run` adds to the migrations (the template ran those), as the owner.
        await installJobQueue(db.url);
        await installRecurringJobs(db.url);
        const owner = new Client({ connectionString: db.url });
        await owner.connect();
        try {
          for (const statement of grantsScript(role, db.name)) await owner.query(statement);
        } finally {
          await owner.end();
        }
        const url = new URL(db.url);
        url.username = role;
        return url.toString();
      },
    });
    asApp = new Client({ connectionString: t.config.databaseUrl });
    await asApp.connect();
    asOwner = new Client({ connectionString: t.db.url });
    await asOwner.connect();
    admin = await signInAdmin(t);
    auditor = await createStaff(t, admin, 'AUDITOR');
  });

  afterAll(async () => {
    await asApp?.end();
    await asOwner?.end();
    await t?.close();
    await adminQuery(`DROP ROLE IF EXISTS ${role}`);
  });

  const pendingCount = async (): Promise<number> => (await asOwner.query(`SELECT count(*)::int AS n FROM audit_entry_pending`)).rows[0].n as number;
  /**
   * Chains what is pending, as the service's sweep does, until nothing is left: the sequencer may be chaining
   * the same entries at that moment (the sweep then finds the lock taken and leaves them to it), and an entry
   * committed right after a request answered may arrive a moment later.
   */
  const chainAll = async (): Promise<number> => {
    for (let i = 0; i < 50; i++) {
      await t.app.get(AuditWriter).chainPending();
      if ((await pendingCount()) === 0) return 0;
      await new Promise((r) => setTimeout(r, 100));
    }
    return pendingCount();
  };
  /**
   * The auditor's chain verification once the service has settled: entries written just after a request
   * answered (a token's use, say) are chained first, and a report counting one of them as unsealed is taken
   * again (each verification is itself audited, and chained by the next round).
   */
  const settledVerification = async (): Promise<{ valid: boolean; unsealed: number; checked: number }> => {
    let report: { valid: boolean; unsealed: number; checked: number } | undefined;
    for (let i = 0; i < 20; i++) {
      await chainAll();
      report = (await gqlOk<{ verifyAuditChain: { valid: boolean; unsealed: number; checked: number } }>(t.gql, VERIFY, {}, auditor.accessToken)).verifyAuditChain;
      if (report.unsealed === 0 || !report.valid) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    return report!;
  };

  it('really runs as a role that owns nothing and cannot bypass triggers', async () => {
    const { rows } = await asApp.query(`SELECT current_user AS who, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super,
                                               pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'audit_entry'::regclass), 'USAGE') AS owns`);
    expect(rows[0]).toEqual({ who: role, super: false, owns: false });
    await expect(asApp.query(`SET session_replication_role = replica`)).rejects.toMatchObject({ code: '42501' });
  });

  it('is refused any DELETE, UPDATE or TRUNCATE of the log and of pending entries by privilege, before any trigger', async () => {
    for (const statement of [
      `DELETE FROM audit_entry_pending`,
      `UPDATE audit_entry_pending SET action = 'x'`,
      `TRUNCATE audit_entry_pending`,
      `DELETE FROM audit_entry`,
      `UPDATE audit_entry SET action = 'x'`,
      `TRUNCATE audit_entry`,
      `ALTER TABLE audit_entry DISABLE TRIGGER USER`,
    ]) {
      await expect(asApp.query(statement)).rejects.toMatchObject({ code: '42501' });
    }
  });

  it('serves sign-in, staff creation and ingestion, every audit entry chained and the chain valid', async () => {
    const partner = await partnerWithToken(t, admin, 'INTERNAL');
    const customer = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "lp-1", transactionLimit: "100.00"}) { id } }', undefined, partner.token)).createCustomer.id;
    const res = await ingest(t, partner.token, [
      { customerId: customer, type: 'TRANSACTION', amount: '50.00', currency: 'EUR' },
      { customerId: customer, type: 'TRANSACTION', amount: '500.00', currency: 'EUR' },
    ]);
    expect(res.errors).toBeUndefined();
    expect(res.data!.ingestEvents.map((r) => r!.decision)).toEqual(['ALLOW', 'HOLD']);
    expect(await chainAll()).toBe(0);
    const { rows } = await asOwner.query(`SELECT count(*)::int AS n FROM audit_entry WHERE action = 'event.ingest'`);
    expect(rows[0].n).toBe(1);
    const report = await settledVerification();
    expect(report).toMatchObject({ valid: true, unsealed: 0 });
    expect(report.checked).toBeGreaterThan(5);
  });

  it('chains a pending entry it did not write (the sweep\'s locked path) with its content copied from the table', async () => {
    await asOwner.query(
      `INSERT INTO audit_entry_pending (occurred_at, actor_type, action, resource_type, resource_id, fields, outcome, details)
       VALUES (now(), 'SYSTEM', 'test.swept_as_app', 'Test', 'swept-1', '{email}', 'SUCCESS', '{"n": 1}')`,
    );
    expect(await chainAll()).toBe(0);
    const { rows } = await asOwner.query(`SELECT action, fields, details FROM audit_entry WHERE resource_id = 'swept-1'`);
    expect(rows).toEqual([{ action: 'test.swept_as_app', fields: ['email'], details: { n: 1 } }]);
    expect(await settledVerification()).toMatchObject({ valid: true, unsealed: 0 });
  });

  it('cannot make a pending entry vanish through the chaining functions either: they move it into the log or refuse', async () => {
    // One transaction holding the chain lock, so the service's own sweep stays out; rolled back at the end.
    await asApp.query('BEGIN');
    try {
      await asApp.query(`SELECT pg_advisory_xact_lock($1)`, [AUDIT_LOCKS.append]);
      const [{ seq }] = (await asApp.query(
        `INSERT INTO audit_entry_pending (occurred_at, actor_type, action, resource_type, resource_id, fields, outcome, details)
         VALUES (now(), 'SYSTEM', 'test.not_to_vanish', 'Test', 'vanish-1', '{}', 'SUCCESS', '{}') RETURNING seq::text`,
      )).rows as Array<{ seq: string }>;
      const head = (await asApp.query(`SELECT e.id::text AS id, e.hash FROM audit_entry e ORDER BY e.id DESC LIMIT 1`)).rows[0] as { id: string; hash: string };
      const next = String(BigInt(head.id) + 1n);
      const chain = (seqs: string[], ids: string[], hashes: string[]) =>
        asApp.query(`SELECT audit_chain_pending($1::bigint[], $2::bigint[], $3::text[], $4, now()) AS n`, [seqs, ids, hashes, head.hash]);
      const stillPending = async () => (await asApp.query(`SELECT count(*)::int AS n FROM audit_entry_pending WHERE seq = $1`, [seq])).rows[0].n as number;
      await asApp.query('SAVEPOINT attempt');
      // A seq that is not pending next to the real one: the statement fails, nothing moves.
      await expect(chain([seq, String(BigInt(seq) + 1000n)], [next, String(BigInt(next) + 1n)], ['a'.repeat(64), 'b'.repeat(64)])).rejects.toMatchObject({ code: 'P0002' });
      await asApp.query('ROLLBACK TO SAVEPOINT attempt');
      expect(await stillPending()).toBe(1);
      // Ids and hashes that do not pair with the seqs one for one.
      await expect(chain([seq], [next], [])).rejects.toMatchObject({ code: '22023' });
      await asApp.query('ROLLBACK TO SAVEPOINT attempt');
      expect(await stillPending()).toBe(1);
      // Moved, it is in the log with the pending row's content (here under a hash made up by the caller,
      // which verification would report): the caller chooses its place in the chain, not what it says.
      expect((await chain([seq], [next], ['c'.repeat(64)])).rows[0].n).toBe(1);
      expect(await stillPending()).toBe(0);
      const { rows } = await asApp.query(`SELECT id::text AS id, action, resource_id, prev_hash, hash FROM audit_entry WHERE id = $1`, [next]);
      expect(rows).toEqual([{ id: next, action: 'test.not_to_vanish', resource_id: 'vanish-1', prev_hash: head.hash, hash: 'c'.repeat(64) }]);
    } finally {
      await asApp.query('ROLLBACK');
    }
    // Entries the service committed while this test held the chain lock (the previous verification's own
    // audit entry, say) waited behind it: chain them, as the service's sweep would, before verifying.
    expect(await chainAll()).toBe(0);
    expect(await settledVerification()).toMatchObject({ valid: true, unsealed: 0 });
  });
});
