import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { AUDIT_COLUMNS, chainHash, GENESIS_HASH, type AuditDbRow, type AuditRow } from '../audit-chain';
import { AUDIT_SETTINGS } from '../audit.settings';
import { jsonlLine } from '../export/export-format';
import { checkAnchorSequence, loadAnchors, type ChainAnchor, type SqlRunner } from './audit-anchor';

/**
 * The archive copy of a sealed segment: the entries `firstId..lastId` as JSON lines in the format of
 * `GET /audit/export` (every hashed column plus `prevHash` and `hash`), so the copy can be verified against
 * its anchor with the key long after the rows have left the database.
 */
export async function writeSegment(sql: SqlRunner, anchor: ChainAnchor, path: string): Promise<{ entries: number; sha256: string }> {
  // 'wx': never overwrite an earlier copy.
  const file = await open(path, 'wx', 0o600);
  const digest = createHash('sha256');
  let entries = 0;
  try {
    let next = BigInt(anchor.firstId);
    const last = BigInt(anchor.lastId);
    while (next <= last) {
      const rows = (await sql.query(
        `SELECT ${AUDIT_COLUMNS} FROM audit_entry WHERE id >= $1 AND id <= $2 ORDER BY audit_entry.id LIMIT $3`,
        [next.toString(), anchor.lastId, AUDIT_SETTINGS.exportBatchSize],
      )) as AuditDbRow[];
      if (!rows.length) break;
      const text = rows.map(jsonlLine).join('');
      digest.update(text);
      await file.write(text);
      entries += rows.length;
      next = BigInt(rows[rows.length - 1].id) + 1n;
    }
    await file.sync();
  } finally {
    await file.close();
  }
  if (BigInt(entries) !== BigInt(anchor.entryCount)) throw new Error(`wrote ${entries} entries but the anchor covers ${anchor.entryCount}: is the segment already archived?`);
  return { entries, sha256: digest.digest('hex') };
}

export type ArchiveCheck =
  | { valid: true; anchor: ChainAnchor; entries: number }
  | { valid: false; anchor: ChainAnchor | null; entries: number; problem: string };

/**
 * Verifies an archive copy against the anchors in the database: the anchors are intact, one of them starts
 * at the copy's first entry, and the copy holds exactly its entries — consecutive ids, each `prevHash`
 * the previous hash (the previous anchor's last hash, or genesis, for the first), each HMAC intact, and
 * the last hash equal to the anchor's.
 */
export async function verifyArchive(sql: SqlRunner, key: Buffer, path: string): Promise<ArchiveCheck> {
  const anchors = await loadAnchors(sql);
  const broken = checkAnchorSequence(key, anchors);
  if (broken) return { valid: false, anchor: broken.anchor, entries: 0, problem: `anchor ${broken.anchor.id} does not verify (${broken.problem})` };

  let anchor: ChainAnchor | null = null;
  let prevHash = GENESIS_HASH;
  let expectedId = 0n;
  let entries = 0;
  const fail = (problem: string): ArchiveCheck => ({ valid: false, anchor, entries, problem });
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    let record: AuditRow & { prevHash: string; hash: string };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      return fail(`line ${entries + 1} is not JSON`);
    }
    if (!anchor) {
      const index = anchors.findIndex((a) => a.firstId === String(record.id));
      if (index < 0) return fail(`no anchor starts at entry ${record.id}`);
      anchor = anchors[index];
      prevHash = index > 0 ? anchors[index - 1].lastHash : GENESIS_HASH;
      expectedId = BigInt(anchor.firstId);
    }
    if (String(record.id) !== expectedId.toString()) return fail(`entry ${expectedId} is missing`);
    if (expectedId > BigInt(anchor.lastId)) return fail(`entry ${record.id} lies past the anchor's last entry ${anchor.lastId}`);
    if (record.prevHash !== prevHash) return fail(`entry ${record.id}: prevHash does not link to the previous entry`);
    if (chainHash(key, record.prevHash, record) !== record.hash) return fail(`entry ${record.id}: hash does not match its content`);
    prevHash = record.hash;
    expectedId += 1n;
    entries += 1;
  }
  if (!anchor) return fail('the file holds no entry');
  if (expectedId - 1n !== BigInt(anchor.lastId)) return fail(`the copy ends at entry ${expectedId - 1n}, the anchor at ${anchor.lastId}`);
  if (prevHash !== anchor.lastHash) return fail("the last entry's hash is not the anchor's last hash");
  return { valid: true, anchor, entries };
}
