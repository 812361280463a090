import { Client } from 'pg';
import { DataSource, type EntityManager, type QueryRunner } from 'typeorm';
import { AuditWriter } from '../../src/modules/audit/audit-writer.service';
import { AuditCheckpointer } from '../../src/modules/audit/chain/audit-checkpointer.service';
import { RequestContext } from '../../src/common/context/request-context';
import { APP_CONFIG } from '../../src/config/config.module';
import { TransactionService } from '../../src/database/transaction.service';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';

const VERIFY = `query($i: VerifyAuditChainInput) { verifyAuditChain(input: $i) { valid checked firstInvalidId reason unsealed headId checkpointId } }`;
const ALERTS = `query($f: SecurityAlertsFilter) { securityAlerts(filter: $f, first: 100) { totalCount nodes { id kind detail status } } }`;
/** How the verifier reads the committed head. */
const HEAD_READ = 'SELECT id::text AS id FROM audit_entry ORDER BY audit_entry.id DESC LIMIT 1';

interface Report {
  valid: boolean;
  checked: number;
  firstInvalidId: string | null;
  reason: string | null;
  unsealed: number;
  headId: string | null;
  checkpointId: string | null;
}

/**
 * The newest entries of the chain (SPEC §5, §8: a removed row is found, a cut-off tail too): verification
 * compares the head with the last checkpoint without racing the checkpointer, an instance never chains over
 * entries it saw committed and that were then removed, and one cut raises one alert however the chain regrows.
 */
async function chainTailHarness() {
  const t = await startTestApp();
  const sql = new Client({ connectionString: t.db.url });
  await sql.connect();
  const admin = await signInAdmin(t);
  const auditor = await createStaff(t, admin, 'AUDITOR');
  const writer = t.app.get(AuditWriter);
  const checkpointer = t.app.get(AuditCheckpointer);
  return {
    t,
    sql,
    auditor,
    writer,
    checkpointer,
    verify: async (input?: { fromId?: string; toId?: string }): Promise<Report> =>
      (await gqlOk<{ verifyAuditChain: Report }>(t.gql, VERIFY, { i: input }, auditor.accessToken)).verifyAuditChain,
    chainAlerts: async () =>
      (await gqlOk<{ securityAlerts: { totalCount: number; nodes: Array<{ detail: Record<string, unknown> }> } }>(t.gql, ALERTS, { f: { kind: 'CHAIN_INVALID' } }, auditor.accessToken)).securityAlerts,
    head: async (): Promise<{ id: string; hash: string }> => (await sql.query('SELECT e.id::text AS id, e.hash FROM audit_entry e ORDER BY e.id DESC LIMIT 1')).rows[0],
    /** Another instance of the service, or this one restarted: its own sequencer, no head remembered. */
    otherInstance: (tx: TransactionService = t.app.get(TransactionService)) =>
      new AuditWriter(t.app.get(APP_CONFIG), tx, t.app.get(RequestContext), checkpointer),
    /** As a superuser with triggers bypassed: the attacker SPEC §8 says verification must still catch. */
    asSuperuserBypassingTriggers: async (statement: string, params: unknown[] = []): Promise<void> => {
      await sql.query('SET session_replication_role = replica');
      try {
        await sql.query(statement, params);
      } finally {
        await sql.query('SET session_replication_role = DEFAULT');
      }
    },
    /**
     * Keeps the periodic pending sweep (its take reads the head and remembers it) and the checkpointer's own
     * timer (it checkpoints a few seconds after appends) out of `work`: the scenario decides when each runs.
     */
    quietly: async (work: () => Promise<void>): Promise<void> => {
      await checkpointer.checkpoint();
      const sweep = jest.spyOn(writer, 'chainPending').mockResolvedValue();
      const noted = jest.spyOn(checkpointer, 'noteAppended').mockImplementation(() => undefined);
      try {
        await work();
      } finally {
        sweep.mockRestore();
        noted.mockRestore();
      }
    },
    close: async () => {
      await sql.end();
      await t.close();
    },
  };
}

const entry = (action: string) => ({ action, outcome: 'SUCCESS' as const, resourceType: 'Test', actor: { type: 'SYSTEM' as const } });
const plus = (id: string, n: number) => String(BigInt(id) + BigInt(n));

describe('audit chain tail: checkpoints and the sequencer keep a cut tail in view', () => {
  let h: Awaited<ReturnType<typeof chainTailHarness>>;

  beforeAll(async () => {
    h = await chainTailHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('reports no cut tail when entries commit and a checkpoint names them while verification is reading', async () => {
    const { t, writer, checkpointer } = h;
    await writer.record(entry('test.before_checkpoint'));
    await checkpointer.checkpoint();
    const before = (await checkpointer.lastCheckpoint())!;
    const headAtStart = await h.head();
    expect(before.id).toBe(headAtStart.id);

    // The checkpointer works on its own schedule: here it records a newer head right after verification has
    // read the head. Verification must judge that head against a checkpoint read before it, never after.
    const dataSource = t.app.get(DataSource);
    const query = dataSource.query.bind(dataSource);
    let written: string | undefined;
    const spy = jest.spyOn(dataSource, 'query').mockImplementation(async (text: string, params?: unknown[], runner?: QueryRunner) => {
      const result: unknown = await query(text, params, runner);
      if (written === undefined && !runner && text === HEAD_READ) {
        written = 'pending';
        await writer.record(entry('test.meanwhile'));
        written = (await checkpointer.checkpoint())!.id;
      }
      return result;
    });
    let report: Report;
    try {
      report = await h.verify();
    } finally {
      spy.mockRestore();
    }
    expect(written).toBe(plus(headAtStart.id, 1));
    expect(report).toMatchObject({ valid: true, reason: null, firstInvalidId: null, headId: headAtStart.id, checkpointId: before.id });
    expect((await h.chainAlerts()).totalCount).toBe(0);
    // The next run sees the newer checkpoint, and the chain up to it.
    expect(await h.verify()).toMatchObject({ valid: true, checkpointId: written });
  });

  it('remembers a head only once it has committed: a sequencer transaction that rolls back leaves no false break', async () => {
    const tx = h.t.app.get(TransactionService);
    // The sequencer transaction does its work and then fails to commit (a lost connection, a failed statement
    // held for the COMMIT): nothing it chained is in the log.
    let failNext = true;
    const failingCommit = Object.create(tx) as TransactionService;
    failingCommit.runDetached = <T>(work: (manager: EntityManager) => Promise<T>): Promise<T> =>
      tx.runDetached(async (manager) => {
        const result = await work(manager);
        if (failNext) {
          failNext = false;
          throw new Error('the COMMIT failed');
        }
        return result;
      });
    const instance = h.otherInstance(failingCommit);
    const head = await h.head();
    await expect(instance.record(entry('test.rolled_back'))).rejects.toThrow('the COMMIT failed');
    expect(await h.head()).toEqual(head);

    // Had it remembered the head it never committed, that head would look removed now.
    await instance.record(entry('test.after_rollback'));
    expect((await h.head()).id).toBe(plus(head.id, 1));
    const { rows } = await h.sql.query(`SELECT prev_hash FROM audit_entry WHERE action = 'test.after_rollback'`);
    expect(rows).toEqual([{ prev_hash: head.hash }]);
    expect(await h.verify()).toMatchObject({ valid: true, reason: null });
  });

  // The tests below leave the chain broken; each verifies from its own entries on.

  it('finds a tail cut before the next checkpoint once the service appends again: it never reuses the removed ids', async () => {
    const { writer, checkpointer } = h;
    let checkpointed!: string;
    let removedHead!: { id: string; hash: string };
    await h.quietly(async () => {
      await writer.record(entry('test.checkpointed'));
      await checkpointer.checkpoint();
      checkpointed = (await checkpointer.lastCheckpoint())!.id;
      expect(checkpointed).toBe((await h.head()).id);
      for (let i = 0; i < 3; i++) await writer.record(entry('test.cut_off'));
      removedHead = await h.head();
      expect(removedHead.id).toBe(plus(checkpointed, 3));
      // Within the checkpoint interval: the newest entries are in no checkpoint yet.
      await h.asSuperuserBypassingTriggers('DELETE FROM audit_entry WHERE id > $1', [checkpointed]);
      await writer.record(entry('test.after_cut'));
    });
    // The entry goes after the removed head, linked to it: the removed ids stay a gap.
    const { rows } = await h.sql.query(`SELECT id::text AS id, prev_hash FROM audit_entry WHERE action = 'test.after_cut'`);
    expect(rows).toEqual([{ id: plus(removedHead.id, 1), prev_hash: removedHead.hash }]);
    // The checkpointed row is intact, so the next checkpoint names the new head: only the chain shows the cut.
    expect(await checkpointer.checkpoint()).toMatchObject({ id: plus(removedHead.id, 1) });
    expect(await h.verify()).toMatchObject({ valid: false, reason: 'MISSING_ENTRY', firstInvalidId: plus(checkpointed, 1) });
    expect((await h.chainAlerts()).nodes).toEqual([
      expect.objectContaining({ detail: expect.objectContaining({ reason: 'MISSING_ENTRY', firstInvalidId: plus(checkpointed, 1) }) }),
    ]);
  });

  it.each([
    ['up to the id it remembers', 0],
    ['past the id it remembers', 2],
  ])('finds a cut tail that another instance regrew %s: the service links its next entry to the head it saw', async (_, beyond) => {
    const { writer } = h;
    let remembered!: { id: string; hash: string };
    let from!: string;
    await h.quietly(async () => {
      for (let i = 0; i < 3; i++) await writer.record(entry('test.seen'));
      remembered = await h.head();
      from = plus(remembered.id, -3);
      await h.asSuperuserBypassingTriggers('DELETE FROM audit_entry WHERE id > $1', [from]);
      // An instance started after the cut remembers nothing: it carries on from the shortened head.
      const restarted = h.otherInstance();
      for (let i = 0; i < 3 + beyond; i++) await restarted.record(entry('test.regrown'));
      expect((await h.head()).id).toBe(plus(remembered.id, beyond));
      await writer.record(entry('test.after_regrowth'));
    });
    const linked = plus(remembered.id, beyond + 1);
    const { rows } = await h.sql.query(`SELECT id::text AS id, prev_hash FROM audit_entry WHERE action = 'test.after_regrowth' ORDER BY id DESC LIMIT 1`);
    expect(rows).toEqual([{ id: linked, prev_hash: remembered.hash }]);
    // From the entry before the cut on (the earlier test's break lies before it).
    expect(await h.verify({ fromId: from })).toMatchObject({ valid: false, reason: 'PREV_HASH_MISMATCH', firstInvalidId: linked });
  });
});

describe('audit chain tail: one CHAIN_INVALID alert per cut tail', () => {
  let h: Awaited<ReturnType<typeof chainTailHarness>>;

  beforeAll(async () => {
    h = await chainTailHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('raises one alert while the chain grows back below the checkpoint and past it', async () => {
    const { writer, checkpointer } = h;
    let checkpoint!: { id: string; hash: string };
    let cut!: string;
    await h.quietly(async () => {
      // This instance's newest entry comes before the cut; another instance wrote the ones cut off. So this one
      // regrows the chain from the cut with its next entries, as an instance started after the cut would.
      await writer.record(entry('test.own'));
      const own = (await h.head()).id;
      const other = h.otherInstance();
      for (let i = 0; i < 6; i++) await other.record(entry('test.other'));
      await checkpointer.checkpoint();
      checkpoint = (await checkpointer.lastCheckpoint())!;
      expect(checkpoint.id).toBe(plus(own, 6));
      cut = plus(own, 2);
      await h.asSuperuserBypassingTriggers('DELETE FROM audit_entry WHERE id > $1', [cut]);
    });

    expect(await h.verify()).toMatchObject({ valid: false, reason: 'TAIL_TRUNCATED', firstInvalidId: plus(cut, 1), checkpointId: checkpoint.id });
    // That verification's own entries (the alert, audit.verify) regrew the chain: the first id past the head moved.
    const again = await h.verify();
    expect(again).toMatchObject({ valid: false, reason: 'TAIL_TRUNCATED', checkpointId: checkpoint.id });
    expect(BigInt(again.firstInvalidId!)).toBeGreaterThan(BigInt(plus(cut, 1)));
    // Grown back past the checkpoint, the hash at its id differs.
    for (let i = 0; i < 4; i++) await writer.record(entry('test.regrow'));
    expect(await h.verify()).toMatchObject({ valid: false, reason: 'TAIL_TRUNCATED', firstInvalidId: checkpoint.id, checkpointId: checkpoint.id });

    const alerts = await h.chainAlerts();
    expect(alerts.totalCount).toBe(1);
    expect(alerts.nodes[0].detail).toMatchObject({ reason: 'TAIL_TRUNCATED', firstInvalidId: plus(cut, 1), checkpointId: checkpoint.id });
  });
});
