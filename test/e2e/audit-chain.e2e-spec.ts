import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { AuditWriter } from '../../src/modules/audit/audit-writer.service';
import { AUDIT_LOCKS } from '../../src/modules/audit/audit.settings';
import { AuditCheckpointer } from '../../src/modules/audit/chain/audit-checkpointer.service';
import { AuditVerifier } from '../../src/modules/audit/chain/audit-verifier.service';
import { RequestContext } from '../../src/common/context/request-context';
import { APP_CONFIG } from '../../src/config/config.module';
import { TransactionService } from '../../src/database/transaction.service';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';

const VERIFY = `query($i: VerifyAuditChainInput) { verifyAuditChain(input: $i) { valid checked firstInvalidId reason unsealed headId checkpointId } }`;
const ALERTS = `query($f: SecurityAlertsFilter) { securityAlerts(filter: $f, first: 100) { totalCount nodes { id kind actorType actor partner detail status } } }`;

interface Report {
  valid: boolean;
  checked: number;
  firstInvalidId: string | null;
  reason: string | null;
  unsealed: number;
  headId: string | null;
  checkpointId: string | null;
}

describe('audit chain: append-only, keyed, verifiable', () => {
  let t: TestApp;
  let auditor: SignedIn;
  let sql: Client;
  let writer: AuditWriter;

  const verify = async (input?: { fromId?: string; toId?: string }): Promise<Report> =>
    (await gqlOk<{ verifyAuditChain: Report }>(t.gql, VERIFY, { i: input }, auditor.accessToken)).verifyAuditChain;
  const count = async (): Promise<number> => Number((await sql.query('SELECT count(*) AS n FROM audit_entry')).rows[0].n);
  const maxId = async (): Promise<string> => (await sql.query('SELECT max(id)::text AS id FROM audit_entry')).rows[0].id as string;
  /** As a superuser with triggers bypassed: the attacker SPEC §8 says verification must still catch. */
  const asSuperuserBypassingTriggers = async (statement: string, params: unknown[] = []): Promise<void> => {
    await sql.query('SET session_replication_role = replica');
    try {
      await sql.query(statement, params);
    } finally {
      await sql.query('SET session_replication_role = DEFAULT');
    }
  };

  /**
   * The sequencer's private state, read here and never set, so that tests of which path a group takes wait on
   * that state rather than on how long the steps in between take (a loaded machine stretches them).
   */
  const sequencerOf = () =>
    (writer as unknown as { sequencer: { skipFastPath: boolean; stagedFastPathAfter: number; waiting: unknown[]; flushing?: Promise<void>; idle(): Promise<void>; chainCommitted(): Promise<void> } }).sequencer;
  /**
   * Waits until the next group of staged entries may try the one-statement chaining: nothing of this instance's
   * in flight, and the back-off after a refused chaining (earlier tests provoke refusals on purpose) run out.
   */
  const stagedFastPathReady = async (): Promise<void> => {
    const sequencer = sequencerOf();
    await sequencer.idle();
    while (Date.now() < sequencer.stagedFastPathAfter) await new Promise((resolve) => setTimeout(resolve, 20));
  };

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    const admin = await signInAdmin(t);
    auditor = await createStaff(t, admin, 'AUDITOR');
    writer = t.app.get(AuditWriter);
  });
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  it('is refused UPDATE, DELETE and TRUNCATE by the database itself, even for a superuser', async () => {
    const id = await maxId();
    await expect(sql.query(`UPDATE audit_entry SET action = 'rewritten' WHERE id = $1`, [id])).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(sql.query(`DELETE FROM audit_entry WHERE id = $1`, [id])).rejects.toThrow(/append-only: DELETE refused/);
    await expect(sql.query(`TRUNCATE audit_entry`)).rejects.toThrow(/append-only: TRUNCATE refused/);
    await expect(sql.query(`DELETE FROM audit_entry`)).rejects.toThrow(/append-only/);
    expect(await maxId()).toBe(id);
  });

  it('keeps one chain under 200 concurrent writers: consecutive ids, valid links and HMACs', async () => {
    const before = await count();
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        writer.record({ action: 'test.concurrent', outcome: 'SUCCESS', resourceType: 'Test', resourceId: String(i), details: { i, at: new Date() } }),
      ),
    );
    expect(await count()).toBe(before + 200);
    // Writers outside a transaction are group-committed: entries that queued behind one append go together
    // in the next transaction (rows of one transaction share xmin), so 200 writers take far fewer than 200.
    const appends = (await sql.query(`SELECT count(DISTINCT xmin::text)::int AS n FROM audit_entry WHERE action = 'test.concurrent'`)).rows[0].n as number;
    expect(appends).toBeLessThan(20);
    const { rows } = await sql.query(`SELECT min(id)::int AS lo, max(id)::int AS hi, count(*)::int AS n, count(DISTINCT prev_hash)::int AS prevs FROM audit_entry`);
    expect(rows[0]).toMatchObject({ lo: 1, hi: rows[0].n, prevs: rows[0].n });
    const report = await verify();
    expect(report).toMatchObject({ valid: true, firstInvalidId: null, reason: null, unsealed: 0 });
    expect(report.checked).toBe(rows[0].n);
  });

  it('keeps one chain when two instances append outside transactions at once, each with a stale head in turn', async () => {
    // Each instance appends in one statement onto the head it wrote last; every append of the other makes
    // that head stale, so these rounds go through the guard, the primary key and the fallback in turn.
    const other = new AuditWriter(t.app.get(APP_CONFIG), t.app.get(TransactionService), t.app.get(RequestContext), t.app.get(AuditCheckpointer));
    const before = await count();
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? other : writer).record({ action: 'test.two_instances', outcome: 'SUCCESS', resourceType: 'Test', resourceId: `${round}.${i}` }),
        ),
      );
    }
    expect(await count()).toBe(before + 200);
    const { rows } = await sql.query(`SELECT min(id)::int AS lo, max(id)::int AS hi, count(*)::int AS n, count(DISTINCT prev_hash)::int AS prevs FROM audit_entry`);
    expect(rows[0]).toMatchObject({ lo: 1, hi: rows[0].n, prevs: rows[0].n });
    expect(await verify()).toMatchObject({ valid: true, firstInvalidId: null, reason: null, unsealed: 0 });
  });

  it('keeps one chain when many transactions append concurrently, twice each, some rolling back, a second instance in between', async () => {
    const tx = t.app.get(TransactionService);
    const before = await count();
    // A second writer stands for another instance: its own sequencer and its own remembered head, ordered
    // with this one by the database lock alone. Each of its appends makes this instance's remembered head
    // stale, which the guarded fast path must notice.
    const writerOfOtherInstance = new AuditWriter(t.app.get(APP_CONFIG), tx, t.app.get(RequestContext), t.app.get(AuditCheckpointer));
    const otherInstance = (i: number) =>
      tx.run(() => writerOfOtherInstance.record({ action: 'test.other_instance', outcome: 'SUCCESS', resourceType: 'Test', resourceId: String(i) }));
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        i % 15 === 7
          ? otherInstance(i)
          : tx.run(async () => {
              await writer.record({ action: 'test.in_transaction', outcome: 'SUCCESS', resourceType: 'Test', resourceId: `${i}.a` });
              await writer.record({ action: 'test.in_transaction', outcome: 'SUCCESS', resourceType: 'Test', resourceId: `${i}.b` });
              if (i % 10 === 3) throw new Error(`roll back ${i}`);
            }),
      ),
    );
    const rolledBack = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason.message));
    expect(rolledBack.sort()).toEqual(['roll back 13', 'roll back 23', 'roll back 3', 'roll back 33', 'roll back 43', 'roll back 53']);
    // 60 callers: 4 of the other instance (one entry each), 6 rolled back, 50 committed with two entries each.
    expect(await count()).toBe(before + 4 + 50 * 2);
    const { rows } = await sql.query(`SELECT min(id)::int AS lo, max(id)::int AS hi, count(*)::int AS n, count(DISTINCT prev_hash)::int AS prevs FROM audit_entry`);
    expect(rows[0]).toMatchObject({ lo: 1, hi: rows[0].n, prevs: rows[0].n });
    // Both entries of a transaction are consecutive: nothing of another caller between them.
    const pairs = (await sql.query(`SELECT resource_id, id::int AS id FROM audit_entry WHERE action = 'test.in_transaction' ORDER BY id`)).rows as Array<{ resource_id: string; id: number }>;
    const ids = new Map(pairs.map((p) => [p.resource_id, p.id]));
    for (const [resource, id] of ids) if (resource.endsWith('.a')) expect(ids.get(resource.replace(/\.a$/, '.b'))).toBe(id + 1);
    expect(await verify()).toMatchObject({ valid: true, firstInvalidId: null, reason: null, unsealed: 0 });
  });

  it('chains a transaction\'s entries just after its commit, before run() returns; a rollback leaves nothing', async () => {
    const tx = t.app.get(TransactionService);
    const pendingOf = async (resource: string): Promise<number> =>
      Number((await sql.query(`SELECT count(*) AS n FROM audit_entry_pending WHERE resource_id = $1`, [resource])).rows[0].n);
    const chainedOf = async (resource: string): Promise<number> =>
      Number((await sql.query(`SELECT count(*) AS n FROM audit_entry WHERE resource_id = $1`, [resource])).rows[0].n);

    let seenInside: { pending: number; chained: number } | undefined;
    await tx.run(async (manager) => {
      await writer.record({ action: 'test.staged', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'staged-1' });
      const [row] = (await manager.query(`SELECT (SELECT count(*)::int FROM audit_entry_pending WHERE resource_id = 'staged-1') AS pending,
        (SELECT count(*)::int FROM audit_entry WHERE resource_id = 'staged-1') AS chained`)) as Array<{ pending: number; chained: number }>;
      seenInside = row;
    });
    // Inside the transaction the entry is held to travel with the COMMIT into the pending table (one round
    // trip for both); once run() has returned it is in the log.
    expect(seenInside).toEqual({ pending: 0, chained: 0 });
    expect({ pending: await pendingOf('staged-1'), chained: await chainedOf('staged-1') }).toEqual({ pending: 0, chained: 1 });

    await expect(
      tx.run(async () => {
        await writer.record({ action: 'test.staged', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'staged-2' });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect({ pending: await pendingOf('staged-2'), chained: await chainedOf('staged-2') }).toEqual({ pending: 0, chained: 0 });
    expect(await verify()).toMatchObject({ valid: true, unsealed: 0 });
  });

  it('never makes a transaction wait for another open transaction that has written an entry', async () => {
    const tx = t.app.get(TransactionService);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let recorded!: () => void;
    const firstRecorded = new Promise<void>((resolve) => (recorded = resolve));
    const slow = tx.run(async () => {
      await writer.record({ action: 'test.slow', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'slow' });
      recorded();
      await gate;
    });
    await firstRecorded;
    // With the chain lock held to commit, this would wait for `slow` and the race below would time out.
    const fast = tx.run(() => writer.record({ action: 'test.fast', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'fast' }));
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([fast.then(() => 'fast committed'), new Promise((resolve) => (timer = setTimeout(() => resolve('still waiting'), 3000)))]);
    clearTimeout(timer);
    release();
    await slow;
    expect(finished).toBe('fast committed');
    const order = (await sql.query(`SELECT resource_id FROM audit_entry WHERE action IN ('test.slow', 'test.fast') ORDER BY id`)).rows.map((r) => r.resource_id);
    // Chained in commit order: the transaction that committed first comes first.
    expect(order).toEqual(['fast', 'slow']);
    expect(await verify()).toMatchObject({ valid: true, unsealed: 0 });
  });

  it('reports committed entries not yet chained apart from breaks, and chains what a crashed instance left behind', async () => {
    // An instance that died between its commit and the chaining leaves its entries pending.
    const writtenAt = '2026-01-02T03:04:05.678Z';
    await sql.query(
      `INSERT INTO audit_entry_pending (occurred_at, actor_type, action, resource_type, resource_id, fields, outcome, details)
       VALUES ($1, 'SYSTEM', 'test.left_pending', 'Test', 'left-1', '{a,b}', 'SUCCESS', '{"z": 1, "a": [1, "x"]}'),
              ($1, 'SYSTEM', 'test.left_pending', 'Test', 'left-2', '{}', 'DENIED', '{}')`,
      [writtenAt],
    );
    expect(await verify()).toMatchObject({ valid: true, firstInvalidId: null, reason: null, unsealed: 2 });

    await writer.chainPending();
    const rows = (await sql.query(`SELECT resource_id, occurred_at FROM audit_entry WHERE action = 'test.left_pending' ORDER BY id`)).rows as Array<{ resource_id: string; occurred_at: Date }>;
    // Chained in the order written, stamped when chained (time never runs backwards along the chain), and
    // hashed as verification reads them.
    expect(rows.map((r) => r.resource_id)).toEqual(['left-1', 'left-2']);
    expect(rows.every((r) => r.occurred_at.getTime() > Date.parse(writtenAt))).toBe(true);
    const { rows: backwards } = await sql.query(`SELECT count(*)::int AS n FROM audit_entry a JOIN audit_entry b ON b.id = a.id + 1 WHERE b.occurred_at < a.occurred_at`);
    expect(backwards[0].n).toBe(0);
    expect(await verify()).toMatchObject({ valid: true, firstInvalidId: null, reason: null, unsealed: 0 });
    expect(Number((await sql.query('SELECT count(*) AS n FROM audit_entry_pending')).rows[0].n)).toBe(0);
  });

  it('takes a backlog by whole transactions, and chains direct appends only after every committed pending entry', async () => {
    // Three transactions left pending by a crashed instance; the second straddles the 5 000-entry take.
    const leave = (n: number, tag: string) =>
      sql.query(
        `INSERT INTO audit_entry_pending (occurred_at, actor_type, action, resource_type, resource_id, fields, outcome, details)
         SELECT now(), 'SYSTEM', 'test.backlog', 'Test', $2 || '.' || g, '{}', 'SUCCESS', '{}' FROM generate_series(1, $1::int) g`,
        [n, tag],
      );
    await leave(4999, 't1');
    await leave(3, 't2');
    await leave(10, 't3');
    // One append in flight first, so the take and the next append form one group behind it: the take's
    // whole transactions come first, and the append waits until no committed entry is left pending.
    const inFlight = writer.record({ action: 'test.after_backlog', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'first' });
    await Promise.all([inFlight, writer.chainPending(), writer.record({ action: 'test.after_backlog', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'direct' })]);
    const ids = async (like: string) =>
      (await sql.query(`SELECT id::int AS id FROM audit_entry WHERE resource_id LIKE $1 ORDER BY id`, [like])).rows.map((r: { id: number }) => r.id);
    const [t1, t2, t3, direct] = [await ids('t1.%'), await ids('t2.%'), await ids('t3.%'), await ids('direct')];
    expect([t1.length, t2.length, t3.length, direct.length]).toEqual([4999, 3, 10, 1]);
    // Each transaction's entries side by side, in the order written, and the direct entry after them all.
    expect(t2).toEqual([t1[4998] + 1, t1[4998] + 2, t1[4998] + 3]);
    expect(t3[0]).toBe(t2[2] + 1);
    expect(direct[0]).toBeGreaterThan(t3[9]);
    expect(await verify()).toMatchObject({ valid: true, firstInvalidId: null, unsealed: 0 });
  });

  it('never chains a direct append ahead of an entry already committed and pending', async () => {
    // A business transaction has committed its entry; its chaining has not run yet when a read appends.
    await writer.record({ action: 'test.warm', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'warm' }); // the fast path knows the head
    await sql.query(
      `INSERT INTO audit_entry_pending (occurred_at, actor_type, action, resource_type, resource_id, fields, outcome, details)
       VALUES (now(), 'SYSTEM', 'test.committed_first', 'Test', 'committed-first', '{}', 'SUCCESS', '{}')`,
    );
    await writer.record({ action: 'test.read_after', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'read-after' });
    const { rows } = await sql.query(`SELECT resource_id FROM audit_entry WHERE resource_id IN ('committed-first', 'read-after') ORDER BY id`);
    expect(rows.map((r: { resource_id: string }) => r.resource_id)).toEqual(['committed-first', 'read-after']);
    expect(await verify()).toMatchObject({ valid: true, unsealed: 0 });
  });

  it('appends onto the known head in one statement that is its own transaction, and appends nothing once the head has moved', async () => {
    const sweep = jest.spyOn(writer, 'chainPending').mockResolvedValue(); // a sweep of its own would be counted below
    await writer.record({ action: 'test.warm', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'warm-2' }); // the fast path knows the head
    await sequencerOf().idle();
    const statements: string[] = [];
    const tx = t.app.get(TransactionService);
    const manager = tx.outsideTransaction();
    const query = manager.query.bind(manager);
    const spy = jest.spyOn(manager, 'query').mockImplementation((text: string, params?: unknown[]) => {
      statements.push(text);
      return query(text, params);
    });
    const detached = jest.spyOn(tx, 'runDetached');
    let lockedPathRuns = -1;
    try {
      await writer.recordMany([1, 2, 3].map((i) => ({ action: 'test.grouped', outcome: 'SUCCESS' as const, resourceType: 'Test', resourceId: `grouped-${i}` })));
      lockedPathRuns = detached.mock.calls.length;
    } finally {
      spy.mockRestore();
      detached.mockRestore();
      sweep.mockRestore();
    }
    expect(lockedPathRuns).toBe(0); // no BEGIN … COMMIT around it: the locked path was not needed
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^SELECT audit_append_onto_head\(/);
    expect(await verify()).toMatchObject({ valid: true, unsealed: 0 });

    // The guard, in the database: a head that is not the head (or not its hash) appends nothing.
    const head = (await sql.query('SELECT e.id::text AS id, e.hash FROM audit_entry e ORDER BY e.id DESC LIMIT 1')).rows[0] as { id: string; hash: string };
    const before = await count();
    const entry = JSON.stringify([{ id: String(BigInt(head.id) + 1n), occurred_at: new Date().toISOString(), actor_type: 'SYSTEM', action: 'test.forged', fields: [], outcome: 'SUCCESS', details: {}, hash: 'f'.repeat(64) }]);
    const stale = String(BigInt(head.id) - 1n);
    const appended = async (headId: string, headHash: string): Promise<number> =>
      (await sql.query('SELECT audit_append_onto_head($1, $2, $3, $4::jsonb, $5::jsonb) AS n', [1, headId, headHash, entry, '{}'])).rows[0].n as number;
    expect(await appended(stale, head.hash)).toBe(0);
    expect(await appended(head.id, 'e'.repeat(64))).toBe(0);
    expect(await count()).toBe(before);
  });

  it('chains a transaction\'s own committed entries onto the known head in one statement, lock held for that statement only', async () => {
    // The periodic sweep stays out: a sweep in the same group sends it down the locked path, and one of its own
    // in the window below would be counted as such.
    const sweep = jest.spyOn(writer, 'chainPending').mockResolvedValue();
    await writer.record({ action: 'test.warm', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'warm-4' }); // the fast path knows the head
    await stagedFastPathReady();
    expect(sequencerOf().skipFastPath).toBe(false);
    const tx = t.app.get(TransactionService);
    const statements: string[] = [];
    const manager = tx.outsideTransaction();
    const query = manager.query.bind(manager);
    const spy = jest.spyOn(manager, 'query').mockImplementation((text: string, params?: unknown[]) => {
      statements.push(text);
      return query(text, params);
    });
    const detached = jest.spyOn(tx, 'runDetached');
    let lockedPathRuns = -1;
    try {
      await tx.run(async () => {
        await writer.record({ action: 'test.own_staged', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'own-1' });
        await writer.recordMany([2, 3].map((i) => ({ action: 'test.own_staged', outcome: 'SUCCESS' as const, resourceType: 'Test', resourceId: `own-${i}` })));
      });
      lockedPathRuns = detached.mock.calls.length;
    } finally {
      spy.mockRestore();
      detached.mockRestore();
      sweep.mockRestore();
    }
    expect(lockedPathRuns).toBe(0); // no sequencer transaction: no take, no BEGIN … COMMIT around the lock
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^SELECT audit_chain_pending_onto_head\(/);
    const { rows } = await sql.query(`SELECT resource_id, id::int AS id FROM audit_entry WHERE action = 'test.own_staged' ORDER BY id`);
    expect(rows.map((r: { resource_id: string }) => r.resource_id)).toEqual(['own-1', 'own-2', 'own-3']);
    expect(rows.map((r: { id: number }) => r.id - rows[0].id)).toEqual([0, 1, 2]);
    expect(Number((await sql.query(`SELECT count(*) AS n FROM audit_entry_pending`)).rows[0].n)).toBe(0);
    expect(await verify()).toMatchObject({ valid: true, unsealed: 0 });
  });

  it('runs no take for a transaction whose entries an earlier take already chained', async () => {
    const tx = t.app.get(TransactionService);
    const sweep = jest.spyOn(writer, 'chainPending').mockResolvedValue(); // the periodic sweep stays out of the count
    const sequencer = sequencerOf();
    await sequencer.idle();
    const detached = jest.spyOn(tx, 'runDetached');
    const asked = jest.spyOn(sequencer, 'chainCommitted');
    const pendingOf = async (): Promise<number> => (await sql.query(`SELECT count(*)::int AS n FROM audit_entry_pending WHERE action = 'test.taken_by_other'`)).rows[0].n;
    const entry = (i: number) => () => writer.record({ action: 'test.taken_by_other', outcome: 'SUCCESS', resourceType: 'Test', resourceId: `taken-${i}` });
    const pendingReach = async (n: number) => {
      for (let waited = 0; (await pendingOf()) < n; waited += 20) {
        if (waited > 10_000) throw new Error(`${n} transactions did not commit`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    // Another session holds the chain lock. The first transaction commits and its chaining waits for the lock;
    // nine more commit meanwhile and queue behind it.
    await sql.query('SELECT pg_advisory_lock($1)', [AUDIT_LOCKS.append]);
    let locked = true;
    const runs: Array<Promise<void>> = [];
    let takes = -1;
    try {
      runs.push(tx.run(entry(0)));
      await pendingReach(1);
      // Its commit is visible before its reply is read: wait until it has asked for its chaining and that group
      // is in flight (waiting for the lock), so the nine below form a group of their own behind it.
      for (let waited = 0; !(asked.mock.calls.length > 0 && sequencer.flushing && !sequencer.waiting.length); waited += 10) {
        if (waited > 10_000) throw new Error('the first transaction did not ask for its chaining');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      for (let i = 1; i < 10; i++) runs.push(tx.run(entry(i)));
      await pendingReach(10);
      await sql.query('SELECT pg_advisory_unlock($1)', [AUDIT_LOCKS.append]);
      locked = false;
      await Promise.all(runs);
      takes = detached.mock.calls.length;
    } finally {
      if (locked) await sql.query('SELECT pg_advisory_unlock($1)', [AUDIT_LOCKS.append]);
      await Promise.allSettled(runs);
      sweep.mockRestore();
      detached.mockRestore();
      asked.mockRestore();
    }
    // The first caller's take chained all ten; the nine callers behind it needed no take of their own.
    expect(takes).toBe(1);
    const { rows } = await sql.query(`SELECT id::int AS id FROM audit_entry WHERE action = 'test.taken_by_other' ORDER BY id`);
    expect(rows).toHaveLength(10);
    expect(await pendingOf()).toBe(0);
    expect(await verify()).toMatchObject({ valid: true, unsealed: 0 });
  });

  it('takes the locked path when another committed entry is pending, chaining that one first', async () => {
    const tx = t.app.get(TransactionService);
    // The sequencer's back-off state (private: read here, never set), so the refusal and the back-off are
    // checked directly rather than by how long the steps in between take.
    const sequencer = sequencerOf();
    // Past any back-off an earlier test left, so the transaction below does try the fast path.
    while (Date.now() < sequencer.stagedFastPathAfter) await new Promise((resolve) => setTimeout(resolve, 20));
    // The periodic sweep stays out: it would chain the foreign entry first and so spare the refusal.
    const sweep = jest.spyOn(writer, 'chainPending').mockResolvedValue();
    const manager = tx.outsideTransaction();
    const query = manager.query.bind(manager);
    const attempts: string[] = [];
    const spy = jest.spyOn(manager, 'query').mockImplementation((text: string, params?: unknown[]) => {
      if (text.startsWith('SELECT audit_chain_pending_onto_head(')) attempts.push(text);
      return query(text, params);
    });
    let refusal = { from: 0, by: 0, attempts: [] as string[] };
    let backOffUntil = 0;
    let startedAt = Infinity;
    let afterRefusal: string[] = [];
    try {
      await writer.record({ action: 'test.warm', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'warm-5' }); // the fast path knows the head
      // Another instance's transaction committed its entry and has not chained it yet.
      await sql.query(
        `INSERT INTO audit_entry_pending (occurred_at, actor_type, action, resource_type, resource_id, fields, outcome, details)
         VALUES (now(), 'SYSTEM', 'test.foreign_pending', 'Test', 'foreign', '{}', 'SUCCESS', '{}')`,
      );
      const from = Date.now();
      await tx.run(() => writer.record({ action: 'test.own_after_foreign', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'own-after' }));
      refusal = { from, by: Date.now(), attempts: [...attempts] };
      backOffUntil = sequencer.stagedFastPathAfter;
      // A direct append takes the locked path once and clears the "next group skips" flag: from then on only
      // the staged back-off keeps transactions off the fast path.
      await writer.record({ action: 'test.after_refusal_direct', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'after-refusal-direct' });
      expect(sequencer.skipFastPath).toBe(false);
      // Refused once, transactions keep to the locked path for a while: no round trip wasted on a likely
      // refusal. Checked right after the refusal (no verification in between), while the back-off holds.
      attempts.length = 0;
      startedAt = Date.now();
      await tx.run(() => writer.record({ action: 'test.own_after_refusal', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'own-after-refusal' }));
      afterRefusal = [...attempts];
    } finally {
      spy.mockRestore();
      sweep.mockRestore();
    }
    // The fast path was tried once and refused (the foreign entry was pending): the back-off runs a second from then.
    expect(refusal.attempts).toHaveLength(1);
    expect(backOffUntil).toBeGreaterThan(refusal.from);
    expect(backOffUntil).toBeLessThanOrEqual(refusal.by + 1_000);
    expect(startedAt).toBeLessThan(backOffUntil); // a few statements after the refusal, well inside the second
    expect(afterRefusal).toEqual([]);
    expect((await sql.query(`SELECT count(*)::int AS n FROM audit_entry WHERE resource_id = 'own-after-refusal'`)).rows[0].n).toBe(1);
    // The foreign entry was chained before the transaction's own, and the chain holds.
    const { rows } = await sql.query(`SELECT resource_id FROM audit_entry WHERE resource_id IN ('foreign', 'own-after') ORDER BY id`);
    expect(rows.map((r: { resource_id: string }) => r.resource_id)).toEqual(['foreign', 'own-after']);
    expect(await verify()).toMatchObject({ valid: true, unsealed: 0 });

    // The guard, in the database: with the head right, it still refuses seqs that are not all pending, and any
    // committed pending entry it was not given; it writes and deletes nothing then. The periodic sweep (every
    // 2 s) stays out meanwhile: it would chain the pending entry below.
    const guardSweep = jest.spyOn(writer, 'chainPending').mockResolvedValue();
    const head = (await sql.query('SELECT e.id::text AS id, e.hash FROM audit_entry e ORDER BY e.id DESC LIMIT 1')).rows[0] as { id: string; hash: string };
    const [{ seq }] = (await sql.query(
      `INSERT INTO audit_entry_pending (occurred_at, actor_type, action, resource_type, resource_id, fields, outcome, details)
       VALUES (now(), 'SYSTEM', 'test.guarded', 'Test', 'guarded', '{}', 'SUCCESS', '{}') RETURNING seq::text`,
    )).rows as Array<{ seq: string }>;
    const idsAfterHead = (n: number) => Array.from({ length: n }, (_, i) => String(BigInt(head.id) + 1n + BigInt(i)));
    const chained = async (headId: string, seqs: string[]): Promise<number> =>
      (
        await sql.query('SELECT audit_chain_pending_onto_head($1, $2, $3, $4::bigint[], $5::bigint[], $6::text[], $7::timestamptz, $8::jsonb, $9::jsonb) AS n', [
          1, headId, head.hash, seqs, idsAfterHead(seqs.length), seqs.map(() => 'f'.repeat(64)), new Date().toISOString(),
          // With no seqs, a direct append rides along: the guard must refuse it too.
          JSON.stringify(seqs.length ? [] : [{ id: idsAfterHead(1)[0], occurred_at: new Date().toISOString(), actor_type: 'SYSTEM', action: 'test.forged', fields: [], outcome: 'SUCCESS', details: {}, hash: 'f'.repeat(64) }]),
          '{}',
        ])
      ).rows[0].n as number;
    try {
      const before = await count();
      expect(await chained(String(BigInt(head.id) - 1n), [seq])).toBe(0); // a stale head
      expect(await chained(head.id, [seq, String(BigInt(seq) + 1000n)])).toBe(0); // a seq that is not pending
      expect(await chained(head.id, [])).toBe(0); // a committed pending entry it was not given
      expect(await count()).toBe(before);
      expect((await sql.query(`SELECT count(*)::int AS n FROM audit_entry_pending WHERE seq = $1`, [seq])).rows[0].n).toBe(1);
    } finally {
      guardSweep.mockRestore();
    }
    await writer.chainPending();
    expect(await verify()).toMatchObject({ valid: true, unsealed: 0 });
  });

  it('chains nothing twice when a fast append committed but its reply was lost', async () => {
    await writer.record({ action: 'test.warm', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'warm-3' }); // the fast path knows the head
    const manager = t.app.get(TransactionService).outsideTransaction();
    const query = manager.query.bind(manager);
    const spy = jest.spyOn(manager, 'query').mockImplementation(async (text: string, params?: unknown[]) => {
      const result = await query(text, params);
      if (text.startsWith('SELECT audit_append_onto_head(')) throw new Error('Connection terminated unexpectedly'); // after the commit
      return result;
    });
    try {
      await writer.recordMany([1, 2].map((i) => ({ action: 'test.lost_reply', outcome: 'SUCCESS' as const, resourceType: 'Test', resourceId: `lost-reply-${i}` })));
    } finally {
      spy.mockRestore();
    }
    const { rows } = await sql.query(`SELECT resource_id FROM audit_entry WHERE action = 'test.lost_reply' ORDER BY id`);
    expect(rows.map((r: { resource_id: string }) => r.resource_id)).toEqual(['lost-reply-1', 'lost-reply-2']);
    await writer.record({ action: 'test.after_lost_reply', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'after' });
    expect(await verify()).toMatchObject({ valid: true, unsealed: 0 });
  });

  it('chains a transaction\'s entries once when the one-statement chaining committed but its reply was lost', async () => {
    const sweep = jest.spyOn(writer, 'chainPending').mockResolvedValue(); // in the group, it would send it down the locked path
    await writer.record({ action: 'test.warm', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'warm-6' }); // the fast path knows the head
    await stagedFastPathReady();
    const tx = t.app.get(TransactionService);
    const manager = tx.outsideTransaction();
    const query = manager.query.bind(manager);
    const spy = jest.spyOn(manager, 'query').mockImplementation(async (text: string, params?: unknown[]) => {
      const result = await query(text, params);
      if (text.startsWith('SELECT audit_chain_pending_onto_head(')) {
        lost += 1;
        throw new Error('Connection terminated unexpectedly'); // after the commit
      }
      return result;
    });
    let lost = 0;
    try {
      await tx.run(() => writer.recordMany([1, 2].map((i) => ({ action: 'test.lost_chain_reply', outcome: 'SUCCESS' as const, resourceType: 'Test', resourceId: `lost-chain-${i}` }))));
    } finally {
      spy.mockRestore();
      sweep.mockRestore();
    }
    expect(lost).toBe(1);
    const { rows } = await sql.query(`SELECT resource_id FROM audit_entry WHERE action = 'test.lost_chain_reply' ORDER BY id`);
    expect(rows.map((r: { resource_id: string }) => r.resource_id)).toEqual(['lost-chain-1', 'lost-chain-2']);
    await tx.run(() => writer.record({ action: 'test.after_lost_chain_reply', outcome: 'SUCCESS', resourceType: 'Test', resourceId: 'after-chain' }));
    expect(await verify()).toMatchObject({ valid: true, unsealed: 0 });
  });

  it('refuses UPDATE and TRUNCATE of pending entries: they leave only by being chained', async () => {
    await sql.query(
      `INSERT INTO audit_entry_pending (occurred_at, actor_type, action, resource_type, resource_id, fields, outcome, details)
       VALUES (now(), 'USER', 'customer.read_pii', 'Customer', 'tamper-1', '{email}', 'SUCCESS', '{}')`,
    );
    await expect(sql.query(`UPDATE audit_entry_pending SET action = 'nothing.to.see' WHERE resource_id = 'tamper-1'`)).rejects.toThrow(/leave only by being chained: UPDATE refused/);
    await expect(sql.query(`TRUNCATE audit_entry_pending`)).rejects.toThrow(/TRUNCATE refused/);
    await writer.chainPending();
    const { rows } = await sql.query(`SELECT action FROM audit_entry WHERE resource_id = 'tamper-1'`);
    expect(rows).toEqual([{ action: 'customer.read_pii' }]);
  });

  it('keeps the chain on the log alone: no other table carries prev_hash', async () => {
    const { rows } = await sql.query(`SELECT table_name FROM information_schema.columns WHERE column_name = 'prev_hash' AND table_schema = 'public' ORDER BY 1`);
    expect(rows.map((r) => r.table_name)).toEqual(['audit_entry']);
  });

  it('verifies a range and refuses malformed bounds', async () => {
    expect(await verify({ fromId: '10', toId: '20' })).toMatchObject({ valid: true, checked: 11 });
    expect(await verify({ fromId: '150' })).toMatchObject({ valid: true });
    const bad = await t.gql(VERIFY, { i: { fromId: 'abc' } }, { token: auditor.accessToken });
    expect(bad.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'fromId', message: 'must be an audit entry id' }] });
    const inverted = await t.gql(VERIFY, { i: { fromId: '20', toId: '10' } }, { token: auditor.accessToken });
    expect(inverted.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('rebuilds nothing from database access alone: rows hash with AUDIT_CHAIN_KEY', async () => {
    const { rows } = await sql.query(`SELECT id, prev_hash, hash FROM audit_entry ORDER BY id LIMIT 3`);
    expect(rows[0].prev_hash).toBe('0'.repeat(64));
    expect(rows[1].prev_hash).toBe(rows[0].hash);
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.hash))).toBe(true);
  });

  it('finds a superuser edit with triggers bypassed, names the entry, raises CHAIN_INVALID and keeps serving', async () => {
    // Entries inside the chain, taken from its current head (ids run 1…head without gaps, as checked above),
    // so nothing depends on how many entries the earlier tests wrote.
    const top = Number(await maxId());
    expect(top).toBeGreaterThan(100);
    const victim = String(top - 60);
    const before = String(top - 61);
    const relinked = top - 30;
    const { rows } = await sql.query(`SELECT details, actor_id FROM audit_entry WHERE id = $1`, [victim]);
    await asSuperuserBypassingTriggers(`UPDATE audit_entry SET details = details || '{"edited": true}' WHERE id = $1`, [victim]);

    const report = await verify();
    expect(report).toMatchObject({ valid: false, firstInvalidId: victim, reason: 'HASH_MISMATCH', checked: top - 61 });
    // A range that ends before the edit is intact.
    expect(await verify({ toId: before })).toMatchObject({ valid: true, checked: top - 61 });

    const alerts = await gqlOk<{ securityAlerts: { nodes: Array<{ kind: string; detail: Record<string, unknown>; status: string }> } }>(
      t.gql, ALERTS, { f: { kind: 'CHAIN_INVALID' } }, auditor.accessToken,
    );
    expect(alerts.securityAlerts.nodes).toEqual([
      expect.objectContaining({ kind: 'CHAIN_INVALID', status: 'OPEN', detail: expect.objectContaining({ firstInvalidId: victim, reason: 'HASH_MISMATCH' }) }),
    ]);
    // Verifying again does not raise the same break twice.
    await verify();
    const again = await gqlOk<{ securityAlerts: { totalCount: number } }>(t.gql, ALERTS, { f: { kind: 'CHAIN_INVALID' } }, auditor.accessToken);
    expect(again.securityAlerts.totalCount).toBe(1);

    // The service keeps appending while the chain is broken.
    const head = Number(await maxId());
    await writer.record({ action: 'test.after_break', outcome: 'SUCCESS' });
    expect(Number(await maxId())).toBe(head + 1);

    // Putting the original content back makes the entry verify again: detection is by content.
    await asSuperuserBypassingTriggers(`UPDATE audit_entry SET details = $2 WHERE id = $1`, [victim, JSON.stringify(rows[0].details)]);
    expect(await verify()).toMatchObject({ valid: true });

    // Editing the stored hash or the link is found as well.
    await asSuperuserBypassingTriggers(`UPDATE audit_entry SET prev_hash = repeat('a', 64) WHERE id = $1`, [relinked]);
    expect(await verify()).toMatchObject({ valid: false, firstInvalidId: String(relinked), reason: 'PREV_HASH_MISMATCH' });
    await asSuperuserBypassingTriggers(`UPDATE audit_entry SET prev_hash = (SELECT hash FROM audit_entry WHERE id = $2) WHERE id = $1`, [relinked, relinked - 1]);
    expect(await verify()).toMatchObject({ valid: true });
  });

  it('finds a deleted row, naming the missing id', async () => {
    const top = Number(await maxId());
    expect(top).toBeGreaterThan(100);
    const victim = String(top - 40);
    const { rows } = await sql.query(`SELECT * FROM audit_entry WHERE id = $1`, [victim]);
    await asSuperuserBypassingTriggers(`DELETE FROM audit_entry WHERE id = $1`, [victim]);
    expect(await verify()).toMatchObject({ valid: false, firstInvalidId: victim, reason: 'MISSING_ENTRY', checked: top - 41 });

    // Restored (inserts are allowed), the chain verifies again.
    const r = rows[0];
    await sql.query(
      `INSERT INTO audit_entry (id, occurred_at, actor_type, actor_id, role, partner_id, session_id, ip, user_agent, request_id, action,
         resource_type, resource_id, customer_id, fields, outcome, details, prev_hash, hash)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)`,
      [r.id, r.occurred_at, r.actor_type, r.actor_id, r.role, r.partner_id, r.session_id, r.ip, r.user_agent, r.request_id, r.action,
        r.resource_type, r.resource_id, r.customer_id, r.fields, r.outcome, JSON.stringify(r.details), r.prev_hash, r.hash],
    );
    expect(await verify()).toMatchObject({ valid: true });

    // Deleting the very first entry is found too.
    await asSuperuserBypassingTriggers(`UPDATE audit_entry SET id = -1 WHERE id = 1`);
    expect(await verify()).toMatchObject({ valid: false, firstInvalidId: '1', reason: 'MISSING_ENTRY' });
    await asSuperuserBypassingTriggers(`UPDATE audit_entry SET id = 1 WHERE id = -1`);
    expect(await verify()).toMatchObject({ valid: true });
  });

  it('records every verification in the log', async () => {
    const { rows } = await sql.query(`SELECT actor_id, details FROM audit_entry WHERE action = 'audit.verify' ORDER BY id`);
    expect(rows.length).toBeGreaterThanOrEqual(10);
    expect(rows[0].actor_id).toBe(auditor.userId);
    expect(rows.some((r) => r.details.valid === false && r.details.reason === 'HASH_MISMATCH')).toBe(true);
  });

  // Last: it leaves the chain permanently cut.
  it('detects a cut-off tail against the checkpoint, also after the chain has grown back', async () => {
    const checkpointer = t.app.get(AuditCheckpointer);
    const checkpoint = await checkpointer.checkpoint();
    const head = await maxId();
    expect(checkpoint).toMatchObject({ id: head, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const lines = readFileSync(t.config.auditCheckpointPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[lines.length - 1]).toEqual({ id: head, hash: checkpoint!.hash, at: expect.any(String) });
    expect(await verify()).toMatchObject({ valid: true, checkpointId: head });
    // That verification logged itself, and the checkpointer's own timer may seal its entry at any moment:
    // seal it now, so the checkpoint the cut is judged against is known and stays put.
    await checkpointer.checkpoint();
    const sealed = (await checkpointer.lastCheckpoint())!.id;
    expect(Number(sealed)).toBeGreaterThan(Number(head));

    const newHead = Number(head) - 3;
    await asSuperuserBypassingTriggers(`DELETE FROM audit_entry WHERE id > $1`, [newHead]);
    // Asked of the verifier itself: a verification through the API appends its own entries, and this instance
    // chains them after the head it remembers, so the removed ids stay a gap (audit-chain-tail.e2e-spec.ts) and
    // the chain could not grow back over the checkpoint as below.
    expect(await t.app.get(AuditVerifier).verify()).toMatchObject({ valid: false, reason: 'TAIL_TRUNCATED', firstInvalidId: String(newHead + 1), checkpoint: { id: sealed } });

    // An instance started after the cut remembers no head and carries on from the shortened one; once past the
    // checkpoint the ids exist again but the hash at the checkpointed id differs — and the checkpointer refuses
    // to paper over it.
    const restarted = new AuditWriter(t.app.get(APP_CONFIG), t.app.get(TransactionService), t.app.get(RequestContext), checkpointer);
    for (let i = 0; i < 5; i++) await restarted.record({ action: 'test.regrow', outcome: 'SUCCESS' });
    expect(Number(await maxId())).toBeGreaterThan(Number(sealed));
    expect(await checkpointer.checkpoint()).toBeNull();
    expect(await verify()).toMatchObject({ valid: false, reason: 'TAIL_TRUNCATED', firstInvalidId: sealed, checkpointId: sealed });

    const alerts = await gqlOk<{ securityAlerts: { nodes: Array<{ detail: Record<string, unknown> }> } }>(t.gql, ALERTS, { f: { kind: 'CHAIN_INVALID' } }, auditor.accessToken);
    expect(alerts.securityAlerts.nodes.map((a) => a.detail.reason)).toEqual(expect.arrayContaining(['TAIL_TRUNCATED', 'HASH_MISMATCH', 'MISSING_ENTRY', 'PREV_HASH_MISMATCH']));
  });
});
