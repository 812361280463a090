import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { PeriodicJob } from '../../../common/jobs/periodic-job';
import { TransactionService } from '../../../database/transaction.service';

/** How often the partition job runs after the one at start-up. */
export const EVENT_PARTITIONS_INTERVAL_MS = 24 * 60 * 60_000;

/** One monthly partition: `event_YYYY_MM` over [first of the month, first of the next) in UTC. */
export interface EventMonth {
  name: string;
  from: Date;
  to: Date;
}

export interface CreatedPartition {
  name: string;
  from: string;
  to: string;
  /** Rows of that month moved out of `event_default` into the new partition. */
  rowsMoved: number;
}

export interface EventPartitionsRun {
  created: CreatedPartition[];
  /** Missing months not created because an existing partition already covers part of their range. */
  skipped: Array<{ name: string; overlaps: string }>;
}

/** The months from `now`'s (UTC) month through `ahead` months later, both included. */
export function monthsAhead(now: Date, ahead: number): EventMonth[] {
  const months: EventMonth[] = [];
  for (let i = 0; i <= ahead; i++) {
    const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1));
    const to = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth() + 1, 1));
    const name = `event_${from.getUTCFullYear()}_${String(from.getUTCMonth() + 1).padStart(2, '0')}`;
    months.push({ name, from, to });
  }
  return months;
}

/**
 * Keeps monthly `event` partitions created ahead of time: the migration made them for −3…+12 months of the
 * day it ran, and without this job every later event would land in `event_default`.
 *
 * Bounds are UTC month starts, whatever the database session's time zone (the migration used the session
 * zone, which is UTC in the shipped images, so the names and bounds agree). A month whose range overlaps a
 * partition that already exists under another name (a database once run in another zone) is left alone.
 *
 * A month is never created with `CREATE TABLE … PARTITION OF`: PostgreSQL refuses that when the default
 * partition already holds rows of the month (a back-fill, or months past the migration's window). Instead,
 * in one transaction: build a standalone table like `event`, move the month's rows out of `event_default`
 * into it, then ATTACH it — ATTACH creates and attaches the partitioned indexes of `event` on it. The same
 * path serves empty months, and ATTACH needs only SHARE UPDATE EXCLUSIVE on `event`, so ingestion into
 * other months goes on; `event_default` is locked (ACCESS EXCLUSIVE) for the move so no row of the month
 * can arrive between the move and the attach.
 *
 * One instance at a time does the work (a transaction-scoped advisory lock); the others return null.
 */
@Injectable()
export class EventPartitions implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('EventPartitions');
  private readonly job = new PeriodicJob('event partition maintenance', this.logger, () => this.ensureAhead());

  constructor(
    private readonly tx: TransactionService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Runs once now — without holding up start-up, a failure is only a warning — and then daily. */
  onApplicationBootstrap(): void {
    this.job.start(EVENT_PARTITIONS_INTERVAL_MS, { runNow: true });
  }

  async onModuleDestroy(): Promise<void> {
    await this.job.stop();
  }

  /**
   * Creates the missing monthly partitions from `now`'s month through EVENT_PARTITIONS_AHEAD_MONTHS months
   * later. Returns what it did, or null when another instance holds the lock.
   */
  async ensureAhead(now: Date = new Date()): Promise<EventPartitionsRun | null> {
    const months = monthsAhead(now, this.config.eventPartitionsAheadMonths);
    // Detached: DDL and table locks must never join a caller's transaction.
    const run = await this.tx.runDetached((manager) => createMissingEventPartitions(manager, months));
    for (const p of run?.created ?? []) {
      this.logger.log(`created event partition ${p.name} [${p.from}, ${p.to}), moved ${p.rowsMoved} row(s) from event_default`);
    }
    for (const s of run?.skipped ?? []) {
      this.logger.warn(`event partition ${s.name} not created: its range overlaps ${s.overlaps}`);
    }
    return run;
  }
}

/**
 * In `manager`'s transaction (its own: DDL and table locks must never join a caller's), under the advisory
 * lock: creates the missing `months`. Null when another instance or run holds the lock. Used by the service's
 * job and by `npm run migration:run`, which runs as the tables' owner (ATTACH needs ownership of `event`).
 */
export async function createMissingEventPartitions(manager: EntityManager, months: EventMonth[]): Promise<EventPartitionsRun | null> {
const [{ locked }] = (await manager.query(`SELECT pg_try_advisory_xact_lock(hashtext('custos.event.partitions')) AS locked`)) as Array<{ locked: boolean }>;
if (!locked) return null;
const existing = await eventPartitions(manager);
  const names = new Set(existing.map((p) => p.name));
  const result: EventPartitionsRun = { created: [], skipped: [] };
  const missing: EventMonth[] = [];
  for (const month of months.filter((m) => !names.has(m.name))) {
    const overlap = existing.find((p) => p.from !== null && p.to !== null && p.from < month.to && month.from < p.to);
    if (overlap) result.skipped.push({ name: month.name, overlaps: overlap.name });
    else missing.push(month);
  }
  if (!missing.length) return result;

  // Waiting behind a long query would queue every reader of `event_default` behind this run: give up
  // instead (the run fails with a warning and the months are still far enough ahead for the next one).
  await manager.query(`SET LOCAL lock_timeout = '10s'`);
  // Once the locks are held, moving a back-filled month out of `event_default` may take longer than the
  // serving pool's statement timeout (DATABASE_STATEMENT_TIMEOUT_MS): this transaction lifts it for itself.
  await manager.query(`SET LOCAL statement_timeout = 0`);
  // Parent first, then the default partition: the order an INSERT into `event` takes them, so no deadlock.
  await manager.query(`LOCK TABLE ONLY event IN SHARE UPDATE EXCLUSIVE MODE`);
  await manager.query(`LOCK TABLE event_default IN ACCESS EXCLUSIVE MODE`);
  const [{ columns }] = (await manager.query(
    `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS columns
       FROM pg_attribute WHERE attrelid = 'event'::regclass AND attnum > 0 AND NOT attisdropped`,
  )) as Array<{ columns: string }>;

  for (const month of missing) {
    if (!/^event_\d{4}_\d{2}$/.test(month.name)) throw new Error(`unexpected partition name ${month.name}`);
    const from = month.from.toISOString();
    const to = month.to.toISOString();
    await manager.query(`CREATE TABLE ${month.name} (LIKE event INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
    const [{ moved }] = (await manager.query(
      `WITH gone AS (DELETE FROM event_default WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING ${columns}),
            kept AS (INSERT INTO ${month.name} (${columns}) SELECT ${columns} FROM gone RETURNING 1)
       SELECT count(*)::int AS moved FROM kept`,
      [from, to],
    )) as Array<{ moved: number }>;
    await manager.query(`ALTER TABLE event ATTACH PARTITION ${month.name} FOR VALUES FROM ('${from}') TO ('${to}')`);
    result.created.push({ name: month.name, from, to, rowsMoved: moved });
  }
  return result;
}

/** The partitions of `event` with their range bounds (null for the default partition). */
async function eventPartitions(manager: EntityManager): Promise<Array<{ name: string; from: Date | null; to: Date | null }>> {
  const rows = (await manager.query(
    `SELECT c.relname AS name, b.bounds[1]::timestamptz AS "from", b.bounds[2]::timestamptz AS "to"
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       LEFT JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') AS b(bounds) ON true
      WHERE i.inhparent = 'event'::regclass`,
  )) as Array<{ name: string; from: Date | null; to: Date | null }>;
  return rows.map((r) => ({ name: r.name, from: r.from ? new Date(r.from) : null, to: r.to ? new Date(r.to) : null }));
}
