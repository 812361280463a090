import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AuditWriter } from '../../src/modules/audit/audit-writer.service';
import { verifyArchive, writeSegment } from '../../src/modules/audit/chain/anchor-archive';
import { AnchorRefusedError, sealAuditAnchor, type SealResult } from '../../src/modules/audit/chain/anchor-sealer';
import type { ChainAnchor } from '../../src/modules/audit/chain/audit-anchor';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';

const VERIFY = `query($i: VerifyAuditChainInput) { verifyAuditChain(input: $i) {
  valid checked firstInvalidId reason headId anchoredFrom { id segment firstId lastId lastHash entryCount firstOccurredAt lastOccurredAt sealedAt } } }`;

interface Report {
  valid: boolean;
  checked: number;
  firstInvalidId: string | null;
  reason: string | null;
  headId: string | null;
  anchoredFrom: { id: string; segment: string; firstId: string; lastId: string; lastHash: string; entryCount: number } | null;
}

/**
 * Retention (docs/SECURITY.md, "Retention and archiving"): an anchor sealed before archival lets the whole
 * chain verify from the first retained entry; a missing, forged or edited anchor, or entries removed without
 * one, do not verify.
 */
describe('audit retention: chain anchors let archived segments go', () => {
  let t: TestApp;
  let auditor: SignedIn;
  let sql: Client;
  let writer: AuditWriter;
  let dataSource: DataSource;

  const verify = async (input?: { fromId?: string; toId?: string }): Promise<Report> =>
    (await gqlOk<{ verifyAuditChain: Report }>(t.gql, VERIFY, { i: input }, auditor.accessToken)).verifyAuditChain;
  const scalar = async (query: string, params: unknown[] = []): Promise<string> => String(Object.values((await sql.query(query, params)).rows[0])[0]);
  /** What the operator does (as the superuser, outside the application): delete the archived range. */
  const archive = async (firstId: string, lastId: string): Promise<void> => {
    await sql.query('BEGIN');
    try {
      await sql.query('SET LOCAL session_replication_role = replica');
      await sql.query('DELETE FROM audit_entry WHERE id BETWEEN $1 AND $2', [firstId, lastId]);
      await sql.query('COMMIT');
    } catch (error) {
      await sql.query('ROLLBACK');
      throw error;
    }
  };
  const asSuperuserBypassingTriggers = async (statement: string, params: unknown[] = []): Promise<void> => {
    await sql.query('SET session_replication_role = replica');
    try {
      await sql.query(statement, params);
    } finally {
      await sql.query('SET session_replication_role = DEFAULT');
    }
  };
  const writeEntries = async (n: number, tag: string): Promise<void> => {
    for (let i = 0; i < n; i++) await writer.record({ action: 'test.retention', outcome: 'SUCCESS', resourceType: 'Test', resourceId: `${tag}-${i}` });
  };
  /** Seals everything written so far (`before` strictly after the newest entry). */
  const sealNow = async (segment: string): Promise<ChainAnchor> => {
    await new Promise((r) => setTimeout(r, 5));
    const result: SealResult = await sealAuditAnchor(dataSource, t.config.keys.auditChain, { before: new Date(), segment, sealedBy: 'TEST-1' });
    if (!result.sealed) throw new Error(result.reason);
    return result.sealed;
  };

  let first: ChainAnchor;
  let second: ChainAnchor;

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    const admin = await signInAdmin(t);
    auditor = await createStaff(t, admin, 'AUDITOR');
    writer = t.app.get(AuditWriter);
    dataSource = t.app.get(DataSource);
    mkdirSync(t.config.dataDir, { recursive: true });
    await writeEntries(20, 'a');
  });
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  it('seals the first anchor over entries 1..n after verifying them, and records the seal in the chain', async () => {
    const head = await scalar('SELECT max(id)::text FROM audit_entry');
    first = await sealNow('2026-10');
    expect(first).toMatchObject({ id: '1', segment: '2026-10', firstId: '1', lastId: head, sealedBy: 'TEST-1' });
    expect(first.entryCount).toBe(head);
    expect(first.lastHash).toBe(await scalar('SELECT hash FROM audit_entry WHERE id = $1', [head]));

    const { rows } = await sql.query(`SELECT id::text, actor_type, resource_id, details FROM audit_entry WHERE action = 'audit.anchor_seal'`);
    expect(rows).toEqual([
      expect.objectContaining({ id: String(BigInt(head) + 1n), actor_type: 'SYSTEM', resource_id: '1', details: expect.objectContaining({ firstId: '1', lastId: head, lastHash: first.lastHash }) }),
    ]);
    // Nothing new before the cut-off: nothing to seal (the seal entry itself opens the next segment).
    const again = await sealAuditAnchor(dataSource, t.config.keys.auditChain, { before: new Date(first.sealedAt) });
    expect(again.sealed).toBeNull();
    expect(await verify()).toMatchObject({ valid: true, reason: null, anchoredFrom: null });
  });

  it('keeps anchors append-only in the database, as audit_entry', async () => {
    await expect(sql.query(`UPDATE audit_chain_anchor SET segment = 'x'`)).rejects.toThrow(/audit_chain_anchor is append-only: UPDATE refused/);
    await expect(sql.query(`DELETE FROM audit_chain_anchor`)).rejects.toThrow(/append-only: DELETE refused/);
    await expect(sql.query(`TRUNCATE audit_chain_anchor`)).rejects.toThrow(/append-only: TRUNCATE refused/);
    expect(await scalar('SELECT count(*) FROM audit_chain_anchor')).toBe('1');
  });

  it('writes the archive copy of a sealed segment, which verifies against its anchor offline', async () => {
    const path = `${t.config.dataDir}/archive-1.jsonl`;
    const written = await writeSegment(dataSource, first, path);
    expect(written).toEqual({ entries: Number(first.entryCount), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await verifyArchive(dataSource, t.config.keys.auditChain, path)).toMatchObject({ valid: true, anchor: { id: '1' }, entries: Number(first.entryCount) });
    // Never overwrites an earlier copy.
    await expect(writeSegment(dataSource, first, path)).rejects.toThrow(/EEXIST/);

    const lines = readFileSync(path, 'utf8').trim().split('\n');
    const edited = `${t.config.dataDir}/archive-1-edited.jsonl`;
    writeFileSync(edited, [lines[0], lines[1].replace('"SUCCESS"', '"DENIED"'), ...lines.slice(2)].join('\n'));
    expect(await verifyArchive(dataSource, t.config.keys.auditChain, edited)).toMatchObject({ valid: false, problem: 'entry 2: hash does not match its content' });
    const cut = `${t.config.dataDir}/archive-1-cut.jsonl`;
    writeFileSync(cut, lines.slice(0, -1).join('\n'));
    expect(await verifyArchive(dataSource, t.config.keys.auditChain, cut)).toMatchObject({ valid: false, problem: expect.stringContaining('the anchor at') });
    const gap = `${t.config.dataDir}/archive-1-gap.jsonl`;
    writeFileSync(gap, [lines[0], ...lines.slice(2)].join('\n'));
    expect(await verifyArchive(dataSource, t.config.keys.auditChain, gap)).toMatchObject({ valid: false, problem: 'entry 2 is missing' });
  });

  it('verifies the whole chain from the anchor once its segment is archived', async () => {
    await writeEntries(10, 'b');
    await archive(first.firstId, first.lastId);
    // The archive copy still verifies once the rows are gone: it needs only the anchors and the key.
    expect(await verifyArchive(dataSource, t.config.keys.auditChain, `${t.config.dataDir}/archive-1.jsonl`)).toMatchObject({ valid: true });
    expect(await scalar('SELECT min(id)::text FROM audit_entry')).toBe(String(BigInt(first.lastId) + 1n));
    const remaining = Number(await scalar('SELECT count(*) FROM audit_entry'));

    const report = await verify();
    expect(report).toMatchObject({ valid: true, reason: null, firstInvalidId: null, anchoredFrom: { id: '1', firstId: '1', lastId: first.lastId, lastHash: first.lastHash } });
    expect(report.checked).toBeGreaterThanOrEqual(remaining);
    // A range starting in the archived segment starts from the anchor too; one starting right after it as well.
    expect(await verify({ fromId: '1' })).toMatchObject({ valid: true, anchoredFrom: { id: '1' } });
    expect(await verify({ fromId: String(BigInt(first.lastId) + 1n) })).toMatchObject({ valid: true, anchoredFrom: { id: '1' } });
  });

  it('chains further anchors end to end and starts from the newest one before the first retained entry', async () => {
    await writeEntries(10, 'c');
    second = await sealNow('2026-11');
    expect(second).toMatchObject({ id: '2', firstId: String(BigInt(first.lastId) + 1n) });
    await writeEntries(5, 'd');
    const path = `${t.config.dataDir}/archive-2.jsonl`;
    await writeSegment(dataSource, second, path);
    await archive(second.firstId, second.lastId);
    // The second copy links to the first anchor's last hash.
    expect(await verifyArchive(dataSource, t.config.keys.auditChain, path)).toMatchObject({ valid: true, anchor: { id: '2' } });
    expect(await verify()).toMatchObject({ valid: true, anchoredFrom: { id: '2', segment: '2026-11', lastId: second.lastId } });
  });

  it('finds an edited, forged or removed anchor (as a superuser with triggers bypassed)', async () => {
    await asSuperuserBypassingTriggers(`UPDATE audit_chain_anchor SET last_hash = repeat('b', 64) WHERE id = 2`);
    expect(await verify()).toMatchObject({ valid: false, reason: 'ANCHOR_INVALID', firstInvalidId: second.lastId });
    await asSuperuserBypassingTriggers(`UPDATE audit_chain_anchor SET last_hash = $1 WHERE id = 2`, [second.lastHash]);
    expect(await verify()).toMatchObject({ valid: true, anchoredFrom: { id: '2' } });

    // Editing an older anchor breaks the anchors' own chain even though verification starts later.
    await asSuperuserBypassingTriggers(`UPDATE audit_chain_anchor SET entry_count = entry_count - 1, first_id = first_id + 1 WHERE id = 1`);
    expect(await verify()).toMatchObject({ valid: false, reason: 'ANCHOR_INVALID', firstInvalidId: first.lastId });
    await asSuperuserBypassingTriggers(`UPDATE audit_chain_anchor SET entry_count = entry_count + 1, first_id = first_id - 1 WHERE id = 1`);

    // Removing the newest anchor leaves the archived segment as a gap: the retained chain no longer follows one.
    const { rows } = await sql.query('SELECT * FROM audit_chain_anchor WHERE id = 2');
    await asSuperuserBypassingTriggers('DELETE FROM audit_chain_anchor WHERE id = 2');
    expect(await verify()).toMatchObject({ valid: false, reason: 'MISSING_ENTRY', firstInvalidId: second.firstId, anchoredFrom: null });
    const r = rows[0];
    await sql.query(
      `INSERT INTO audit_chain_anchor (id, segment, first_id, last_id, first_occurred_at, last_occurred_at, last_hash, entry_count, sealed_at, sealed_by, hash)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
      [r.id, r.segment, r.first_id, r.last_id, r.first_occurred_at, r.last_occurred_at, r.last_hash, r.entry_count, r.sealed_at, r.sealed_by, r.hash],
    );
    expect(await verify()).toMatchObject({ valid: true, anchoredFrom: { id: '2' } });

    // An anchor forged with database access alone (no AUDIT_CHAIN_KEY) does not verify.
    const head = await scalar('SELECT max(id)::text FROM audit_entry');
    const headHash = await scalar('SELECT hash FROM audit_entry WHERE id = $1', [head]);
    await sql.query(
      `INSERT INTO audit_chain_anchor (id, segment, first_id, last_id, first_occurred_at, last_occurred_at, last_hash, entry_count, sealed_at, sealed_by, hash)
       VALUES (3, 'forged', $1, $2, now(), now(), $3, $2::bigint - $1::bigint + 1, now(), 'attacker', repeat('c', 64))`,
      [String(BigInt(second.lastId) + 1n), head, headHash],
    );
    expect(await verify()).toMatchObject({ valid: false, reason: 'ANCHOR_INVALID', firstInvalidId: head });
    await expect(sealAuditAnchor(dataSource, t.config.keys.auditChain, { before: new Date() })).rejects.toThrow(AnchorRefusedError);
    await asSuperuserBypassingTriggers('DELETE FROM audit_chain_anchor WHERE id = 3');
    expect(await verify()).toMatchObject({ valid: true });
  });

  it('refuses to seal over a segment that does not verify', async () => {
    await writeEntries(3, 'e');
    const victim = await scalar('SELECT max(id)::text FROM audit_entry');
    await asSuperuserBypassingTriggers(`UPDATE audit_entry SET resource_id = 'edited' WHERE id = $1`, [victim]);
    await new Promise((r) => setTimeout(r, 5));
    await expect(sealAuditAnchor(dataSource, t.config.keys.auditChain, { before: new Date() })).rejects.toThrow(`HASH_MISMATCH at ${victim}`);
    expect(await scalar('SELECT count(*) FROM audit_chain_anchor')).toBe('2');
    await asSuperuserBypassingTriggers(`UPDATE audit_entry SET resource_id = 'e-2' WHERE id = $1`, [victim]);
    expect(await verify()).toMatchObject({ valid: true });
  });

  // Last: these leave the chain broken.
  it('reports entries deleted without an anchor as missing, naming the first missing id', async () => {
    const start = BigInt(second.lastId) + 1n;
    await archive(start.toString(), (start + 2n).toString());
    expect(await verify()).toMatchObject({ valid: false, reason: 'MISSING_ENTRY', firstInvalidId: start.toString(), checked: 0 });

    // With no anchor at all, the gap at the start is the first entry missing.
    await asSuperuserBypassingTriggers('DELETE FROM audit_chain_anchor');
    expect(await verify()).toMatchObject({ valid: false, reason: 'MISSING_ENTRY', firstInvalidId: '1', checked: 0, anchoredFrom: null });
  });
});
