import type { DataSource } from 'typeorm';
import { dataKeyOwner } from '../common/crypto/envelope';
import type { PiiVault } from '../common/crypto/pii-vault.service';

/**
 * `keys:rotate`: moves every wrapped data key (customers, staff users, webhooks, customer-less alerts) to the active KEK version.
 *
 * - Only 32-byte data keys are re-wrapped; no encrypted value is touched, so nothing else changes.
 * - Resumable by construction: each pass selects only rows whose key is not under the active version, so a
 *   run that was interrupted (Ctrl-C, crash, deploy) simply continues with what is left.
 * - Safe while the application runs: a row is written only if its `data_key` is still the value that was
 *   read (`… WHERE id = ? AND data_key = ?`). A key that was erased (crypto-shredding) or changed in
 *   between is skipped and counted, never overwritten.
 * - Every new wrap is unwrapped again and compared with the original data key before it is written.
 * - Nothing here logs or returns key material or PII: only row ids, counts and KEK version labels.
 */

export const DEFAULT_BATCH_SIZE = 500;

/** Tables holding a wrapped data key in `data_key`, with the owner each key is bound to (wrap AAD). */
export const DATA_KEY_TABLES = [
  { table: 'customer', label: 'customers', owner: dataKeyOwner.customer },
  { table: 'app_user', label: 'staff users', owner: dataKeyOwner.user },
  // Webhook signing secrets live under per-webhook data keys (owner `webhook:<id>`).
  { table: 'webhook', label: 'webhooks', owner: (id: string) => `webhook:${id}` },
  // Notes on an alert without a customer (a SYSTEMIC complaint spike) live under that alert's own key.
  { table: 'alert', label: 'alerts', owner: dataKeyOwner.alert },
] as const;

export type DataKeyTable = (typeof DATA_KEY_TABLES)[number]['table'];

export interface RotationProgress {
  /** The table the last batch came from. */
  table: DataKeyTable;
  /** Target KEK version. */
  active: string;
  /** Rows handled so far, all tables: rewrapped + skipped + failed. */
  done: number;
  /** Rows that were not under the active version when the run started, all tables. */
  total: number;
  rewrapped: number;
  skipped: number;
  failed: number;
  batches: number;
  elapsedMs: number;
}

export interface RotationFailure {
  table: DataKeyTable;
  id: string;
  /** Error class and message; crypto errors never carry key material or plaintext. */
  reason: string;
}

export interface TableRotationResult {
  table: DataKeyTable;
  /** Keys per KEK version when the run started / when it ended (rows without a key are not counted). */
  versionsBefore: Record<string, number>;
  versionsAfter: Record<string, number>;
  rewrapped: number;
  /** Rows whose key was erased or changed between read and write: left as they were. */
  skipped: number;
  /** Rows whose key could not be unwrapped (missing KEK version, tampered or malformed): left as they were. */
  failed: number;
  /** Keys still not under the active version at the end (final count query). */
  remaining: number;
}

export interface RotationResult {
  active: string;
  tables: TableRotationResult[];
  rewrapped: number;
  skipped: number;
  failed: number;
  /** Sum of the final per-table counts of keys not under the active version. */
  remaining: number;
  /** True when `shouldStop` ended the run early; running again resumes. */
  stopped: boolean;
  /** True when every data key is under the active version. */
  complete: boolean;
  /** The first failures (at most {@link MAX_REPORTED_FAILURES}), for the operator to investigate. */
  failures: RotationFailure[];
  elapsedMs: number;
}

export interface RotateOptions {
  /** Rows per batch, each batch written in one transaction. Default {@link DEFAULT_BATCH_SIZE}. */
  batchSize?: number;
  /** Called after every batch (and once at the start, with done = 0). */
  onProgress?: (progress: RotationProgress) => void;
  /** Polled after every batch: returning true stops the run cleanly before the next one. */
  shouldStop?: () => boolean;
  /**
   * Called after a batch has been read and re-wrapped, right before it is written. A seam for tests that
   * simulate a concurrent change; production callers leave it unset.
   */
  beforeWrite?: (batch: { table: DataKeyTable; ids: string[] }) => Promise<void> | void;
  /** How long one batch may wait for row locks held by the application. Default 10 s. */
  lockTimeoutMs?: number;
}

export const MAX_REPORTED_FAILURES = 100;

/** Lock or deadlock trouble with a concurrent transaction: the batch is retried. */
const RETRYABLE = new Set(['40P01', '40001', '55P03']);
const MAX_ATTEMPTS = 5;

interface Row {
  id: string;
  data_key: string;
}

export async function rotateDataKeys(dataSource: DataSource, vault: PiiVault, options: RotateOptions = {}): Promise<RotationResult> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  const lockTimeoutMs = Math.max(1, Math.floor(options.lockTimeoutMs ?? 10_000));
  const active = vault.activeKeyVersion;
  const started = Date.now();

  const tables: TableRotationResult[] = [];
  for (const { table } of DATA_KEY_TABLES) {
    tables.push({ table, versionsBefore: await countByVersion(dataSource, table), versionsAfter: {}, rewrapped: 0, skipped: 0, failed: 0, remaining: 0 });
  }
  const total = tables.reduce((sum, t) => sum + notUnder(active, t.versionsBefore), 0);
  const failures: RotationFailure[] = [];
  let batches = 0;
  let stopped = false;
  const sum = (key: 'rewrapped' | 'skipped' | 'failed') => tables.reduce((n, t) => n + t[key], 0);
  const report = (table: DataKeyTable) =>
    options.onProgress?.({
      table,
      active,
      done: sum('rewrapped') + sum('skipped') + sum('failed'),
      total,
      rewrapped: sum('rewrapped'),
      skipped: sum('skipped'),
      failed: sum('failed'),
      batches,
      elapsedMs: Date.now() - started,
    });

  report(DATA_KEY_TABLES[0].table);
  outer: for (const [index, { table, owner }] of DATA_KEY_TABLES.entries()) {
    const result = tables[index];
    let after: string | null = null;
    for (;;) {
      if (options.shouldStop?.()) {
        stopped = true;
        break outer;
      }
      // Keyset over the primary key: rows that are skipped or fail are passed over, never read again in
      // this run, so the loop always ends even if some keys cannot be moved.
      const rows: Row[] = await dataSource.query(
        `SELECT id, data_key FROM ${table}
          WHERE data_key IS NOT NULL AND split_part(data_key, ':', 1) <> $1 ${after === null ? '' : 'AND id > $3'}
          ORDER BY id LIMIT $2`,
        after === null ? [active, batchSize] : [active, batchSize, after],
      );
      if (rows.length === 0) break;
      after = rows[rows.length - 1].id;

      const ids: string[] = [];
      const olds: string[] = [];
      const news: string[] = [];
      for (const row of rows) {
        try {
          const wrapped = rewrapVerified(vault, row.data_key, owner(row.id));
          ids.push(row.id);
          olds.push(row.data_key);
          news.push(wrapped);
        } catch (error) {
          result.failed++;
          if (failures.length < MAX_REPORTED_FAILURES) failures.push({ table, id: row.id, reason: reasonOf(error) });
        }
      }
      if (ids.length) {
        await options.beforeWrite?.({ table, ids: [...ids] });
        const written = await writeBatch(dataSource, table, ids, olds, news, lockTimeoutMs);
        result.rewrapped += written;
        result.skipped += ids.length - written;
      }
      batches++;
      report(table);
      if (rows.length < batchSize) break;
    }
  }

  // The final word is a count, not the tally above: it also sees keys written meanwhile by an application
  // that still wraps under an older version.
  for (const result of tables) {
    result.versionsAfter = await countByVersion(dataSource, result.table);
    result.remaining = notUnder(active, result.versionsAfter);
  }
  const remaining = tables.reduce((n, t) => n + t.remaining, 0);
  return {
    active,
    tables,
    rewrapped: sum('rewrapped'),
    skipped: sum('skipped'),
    failed: sum('failed'),
    remaining,
    stopped,
    complete: remaining === 0,
    failures,
    elapsedMs: Date.now() - started,
  };
}

/** Keys per KEK version in one table; erased rows (no key) are not counted. */
export async function countByVersion(dataSource: DataSource, table: DataKeyTable): Promise<Record<string, number>> {
  assertTable(table);
  const rows: Array<{ version: string; n: number }> = await dataSource.query(
    `SELECT split_part(data_key, ':', 1) AS version, count(*)::int AS n FROM ${table} WHERE data_key IS NOT NULL GROUP BY 1 ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.version, r.n]));
}

function notUnder(active: string, versions: Record<string, number>): number {
  return Object.entries(versions).reduce((n, [version, count]) => (version === active ? n : n + count), 0);
}

/**
 * Re-wraps under the active version and proves the result: the new wrap must name the active version and
 * unwrap (bypassing the vault's cache) to exactly the data key the old wrap held. Throws otherwise.
 */
function rewrapVerified(vault: PiiVault, oldWrapped: string, owner: string): string {
  const dek = vault.openDataKey(oldWrapped, owner);
  let reopened: Buffer | undefined;
  try {
    const { wrapped, changed } = vault.rewrap(oldWrapped, owner);
    if (!changed || vault.needsRewrap(wrapped)) throw new Error('re-wrapped key is not under the active version');
    vault.forget(wrapped);
    reopened = vault.openDataKey(wrapped, owner);
    if (!reopened.equals(dek)) throw new Error('re-wrapped key does not unwrap to the original data key');
    vault.forget(wrapped);
    return wrapped;
  } finally {
    vault.forget(oldWrapped);
    dek.fill(0);
    reopened?.fill(0);
  }
}

/**
 * One transaction per batch. Each row is updated only where its key is still the one that was read, so an
 * erasure or any other change since then wins; returns how many rows were written.
 */
async function writeBatch(dataSource: DataSource, table: DataKeyTable, ids: string[], olds: string[], news: string[], lockTimeoutMs: number): Promise<number> {
  assertTable(table);
  for (let attempt = 1; ; attempt++) {
    try {
      return await dataSource.transaction(async (manager) => {
        await manager.query(`SELECT set_config('lock_timeout', $1, true)`, [`${lockTimeoutMs}ms`]);
        // Set-based form of `UPDATE … SET data_key = $new WHERE id = $id AND data_key = $old` for every row
        // of the batch: one round trip, the same per-row guard.
        const [{ n }]: Array<{ n: number }> = await manager.query(
          `WITH written AS (
             UPDATE ${table} AS t SET data_key = b.new_key
               FROM unnest($1::uuid[], $2::text[], $3::text[]) AS b(id, old_key, new_key)
              WHERE t.id = b.id AND t.data_key = b.old_key
             RETURNING t.id)
           SELECT count(*)::int AS n FROM written`,
          [ids, olds, news],
        );
        return n;
      });
    } catch (error) {
      const code = (error as { code?: string; driverError?: { code?: string } }).code ?? (error as { driverError?: { code?: string } }).driverError?.code;
      if (!code || !RETRYABLE.has(code) || attempt >= MAX_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

function assertTable(table: string): asserts table is DataKeyTable {
  if (!DATA_KEY_TABLES.some((t) => t.table === table)) throw new Error(`not a data-key table: ${table}`);
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error';
}
