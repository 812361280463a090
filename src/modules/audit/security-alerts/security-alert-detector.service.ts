import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { BATCH_ITEMS_NOT_FOUND } from '../../../common/audit/audit-sink';
import { TransactionService } from '../../../database/transaction.service';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { ACCESS_REFUSAL_ACTIONS, AUDIT_SETTINGS, securityAlertSettings } from '../audit.settings';
import { networkOf } from './network';
import { SecurityAlertsService } from './security-alerts.service';

const CURSOR = 'security_alerts';

/**
 * An entry DENIED_BURST counts (ACCESS_REFUSAL_ACTIONS, less batch items not found), given the parameters
 * holding those actions and BATCH_ITEMS_NOT_FOUND.
 */
const accessRefusal = (actions: string, batchItemsNotFound: string) =>
  `outcome = 'DENIED' AND action = ANY(${actions}::text[]) AND details->>'reason' IS DISTINCT FROM ${batchItemsNotFound}`;

interface CandidateRow {
  id: string;
  occurred_at: Date;
  actor_type: string;
  actor_id: string | null;
  partner_id: string | null;
  ip: string | null;
  action: string;
  outcome: string;
  resource_id: string | null;
  refusal: boolean;
}

interface ActorGroup {
  actorType: string;
  actorId: string;
  partnerId: string | null;
  latest: Date;
  lastEntryId: string;
}

/**
 * Reads the audit stream behind a cursor and raises security alerts (SPEC §5, §8). The cursor is an audit
 * id: the sequencer guarantees that every id at or below the committed head is final, so nothing is
 * skipped. Each batch runs in one transaction holding the cursor row FOR UPDATE — with several instances
 * exactly one processes a given entry, and the alerts commit together with the cursor's advance.
 *
 * Windows are evaluated at the newest entry of each actor in a batch; with the detector a few seconds
 * behind the log that is every burst. After a long outage (a batch spanning more than a window) a burst
 * entirely inside the backlog can be missed — the log itself still holds it.
 */
@Injectable()
export class SecurityAlertDetector implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('SecurityAlertDetector');
  private timer?: NodeJS.Timeout;
  private running: Promise<number> = Promise.resolve(0);
  private stopped = false;
  private readonly rules: ReturnType<typeof securityAlertSettings>;

  constructor(
    private readonly tx: TransactionService,
    private readonly alerts: SecurityAlertsService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.rules = securityAlertSettings(config);
  }

  onModuleInit(): void {
    this.timer = setInterval(() => void this.runOnce().catch((error: unknown) => this.logger.error(error)), AUDIT_SETTINGS.detector.intervalMs);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running.catch(() => undefined);
  }

  /** Processes every entry committed so far (after any run already in progress); resolves to the ids scanned. */
  runOnce(): Promise<number> {
    const run = this.running.catch(() => 0).then(() => this.drain());
    this.running = run;
    return run;
  }

  private async drain(): Promise<number> {
    let total = 0;
    while (!this.stopped) {
      const scanned = await this.tx.run((manager) => this.scanBatch(manager));
      total += scanned;
      if (scanned < AUDIT_SETTINGS.detector.scanSize) break;
    }
    return total;
  }

  private async scanBatch(manager: EntityManager): Promise<number> {
    const { piiReadSpike, tokenNewNetwork } = this.rules;
    const [cursor] = (await manager.query(`SELECT last_id::text AS last_id FROM audit_detector_cursor WHERE name = $1 FOR UPDATE`, [CURSOR])) as Array<{ last_id: string }>;
    if (!cursor) return 0;
    const [head] = (await manager.query('SELECT id::text AS id FROM audit_entry ORDER BY audit_entry.id DESC LIMIT 1')) as Array<{ id: string }>;
    const last = BigInt(cursor.last_id);
    const upto = head ? bigMin(BigInt(head.id), last + BigInt(AUDIT_SETTINGS.detector.scanSize)) : last;
    if (upto <= last) return 0;
    const rows = (await manager.query(
      // The batch is read by its id range (primary key) and filtered after: left to choose, the planner may
      // AND the range with the action index, whose scan reads every PII read ever logged — a cost that grows
      // with the log instead of with the batch. PII reads (one per customer of a page, most of the log) come
      // back as one row per reader, its latest in the batch; denied requests and token use row by row.
      `WITH batch AS MATERIALIZED (
         SELECT id, occurred_at, actor_type, actor_id, partner_id, ip, action, outcome, fields, resource_id, ${accessRefusal('$6', '$7')} AS refusal
           FROM audit_entry WHERE id > $1 AND id <= $2)
       SELECT kind, id::text AS id, occurred_at, actor_type, actor_id, partner_id, ip, action, outcome, resource_id, refusal FROM (
           SELECT 'PII_READER' AS kind, * FROM (
             SELECT DISTINCT ON (actor_type, actor_id) id, occurred_at, actor_type, actor_id, partner_id, ip, action, outcome, resource_id, refusal
               FROM batch
              WHERE action = $3 AND outcome = 'SUCCESS' AND fields && $5::text[] AND actor_id IS NOT NULL
              ORDER BY actor_type, actor_id, occurred_at DESC, id DESC) AS latest
           UNION ALL
           SELECT 'ROW' AS kind, id, occurred_at, actor_type, actor_id, partner_id, ip, action, outcome, resource_id, refusal
             FROM batch
            WHERE action = $4 OR refusal) AS candidates
        ORDER BY candidates.kind, candidates.id`,
      [last.toString(), upto.toString(), piiReadSpike.action, tokenNewNetwork.action, piiReadSpike.fields, ACCESS_REFUSAL_ACTIONS, BATCH_ITEMS_NOT_FOUND],
    )) as Array<CandidateRow & { kind: 'PII_READER' | 'ROW' }>;

    const piiReaders = rows.filter((r) => r.kind === 'PII_READER').map((r): ActorGroup => ({
      actorType: r.actor_type, actorId: r.actor_id!, partnerId: r.partner_id, latest: r.occurred_at, lastEntryId: r.id,
    }));
    for (const group of piiReaders) await this.checkPiiReadSpike(manager, group);
    const others = rows.filter((r) => r.kind === 'ROW');
    for (const group of groupByActor(others.filter((r) => r.refusal))) await this.checkDeniedBurst(manager, group);
    for (const row of others) if (row.action === tokenNewNetwork.action) await this.checkTokenNetwork(manager, row);

    await manager.query(`UPDATE audit_detector_cursor SET last_id = $2 WHERE name = $1`, [CURSOR, upto.toString()]);
    return Number(upto - last);
  }

  private async checkPiiReadSpike(manager: EntityManager, group: ActorGroup): Promise<void> {
    const { piiReadSpike } = this.rules;
    // An open alert for this reader already covers the window: counting an hour of its reads (thousands of
    // rows for a busy reader, at every batch) could only confirm it.
    const dedupKey = `${group.actorType}:${group.actorId}`;
    if (await this.alerts.isDuplicate({ kind: 'PII_READ_SPIKE', dedupKey, dedup: { windowMs: piiReadSpike.windowMs } })) return;
    const [{ n }] = (await manager.query(
      `SELECT count(DISTINCT customer_id)::int AS n FROM audit_entry
        WHERE action = $1 AND outcome = 'SUCCESS' AND actor_id = $2 AND actor_type = $3 AND fields && $4::text[]
          AND occurred_at > $5::timestamptz - $6::int * interval '1 millisecond' AND occurred_at <= $5::timestamptz`,
      [piiReadSpike.action, group.actorId, group.actorType, piiReadSpike.fields, group.latest, piiReadSpike.windowMs],
    )) as Array<{ n: number }>;
    if (n <= piiReadSpike.distinctCustomers) return;
    await this.alerts.raise({
      kind: 'PII_READ_SPIKE',
      dedupKey,
      dedup: { windowMs: piiReadSpike.windowMs },
      actorType: group.actorType,
      actorId: group.actorId,
      partnerId: group.partnerId,
      detail: { distinctCustomers: n, threshold: piiReadSpike.distinctCustomers, ...window(group, piiReadSpike.windowMs) },
    });
  }

  private async checkDeniedBurst(manager: EntityManager, group: ActorGroup): Promise<void> {
    const { deniedBurst } = this.rules;
    const dedupKey = `${group.actorType}:${group.actorId}`;
    if (await this.alerts.isDuplicate({ kind: 'DENIED_BURST', dedupKey, dedup: { windowMs: deniedBurst.windowMs } })) return;
    // One per request: a request denied on several fields or aliases counts once. Only the actor's own access
    // refused counts, not a customer's wrong code or a batch naming unknown customers (ACCESS_REFUSAL_ACTIONS).
    const [{ n }] = (await manager.query(
      `SELECT count(DISTINCT COALESCE(request_id, 'entry:' || id))::int AS n FROM audit_entry
        WHERE ${accessRefusal('$5', '$6')} AND actor_id = $1 AND actor_type = $2
          AND occurred_at > $3::timestamptz - $4::int * interval '1 millisecond' AND occurred_at <= $3::timestamptz`,
      [group.actorId, group.actorType, group.latest, deniedBurst.windowMs, ACCESS_REFUSAL_ACTIONS, BATCH_ITEMS_NOT_FOUND],
    )) as Array<{ n: number }>;
    if (n < deniedBurst.requests) return;
    await this.alerts.raise({
      kind: 'DENIED_BURST',
      dedupKey,
      dedup: { windowMs: deniedBurst.windowMs },
      actorType: group.actorType,
      actorId: group.actorId,
      partnerId: group.partnerId,
      detail: { deniedRequests: n, threshold: deniedBurst.requests, ...window(group, deniedBurst.windowMs) },
    });
  }

  private async checkTokenNetwork(manager: EntityManager, row: CandidateRow): Promise<void> {
    const { tokenNewNetwork } = this.rules;
    const tokenId = row.resource_id ?? row.actor_id;
    const network = networkOf(row.ip, tokenNewNetwork.ipv4PrefixBits, tokenNewNetwork.ipv6PrefixBits);
    if (!tokenId || !network) return;
    const inserted = (await manager.query(
      `INSERT INTO audit_token_network (token_id, network, first_seen_at, first_entry_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING RETURNING token_id`,
      [tokenId, network, row.occurred_at, row.id],
    )) as unknown[];
    if (!inserted.length) return;
    const [{ known }] = (await manager.query(`SELECT count(*)::int AS known FROM audit_token_network WHERE token_id = $1 AND network <> $2`, [tokenId, network])) as Array<{ known: number }>;
    // The first network a token is ever seen from is its baseline, not an anomaly.
    if (known === 0) return;
    await this.alerts.raise({
      kind: 'TOKEN_NEW_NETWORK',
      dedupKey: `${tokenId}:${network}`,
      dedup: { anyStatus: true },
      actorType: 'PARTNER',
      actorId: tokenId,
      partnerId: row.partner_id,
      detail: { tokenId, network, ip: row.ip, knownNetworks: known, entryId: row.id, at: row.occurred_at.toISOString() },
    });
  }
}

function groupByActor(rows: CandidateRow[]): ActorGroup[] {
  const groups = new Map<string, ActorGroup>();
  for (const row of rows) {
    // Without an actor id (an anonymous caller) there is no one to attribute a pattern to.
    if (!row.actor_id) continue;
    const key = `${row.actor_type}:${row.actor_id}`;
    const group = groups.get(key);
    if (!group) groups.set(key, { actorType: row.actor_type, actorId: row.actor_id, partnerId: row.partner_id, latest: row.occurred_at, lastEntryId: row.id });
    else if (row.occurred_at >= group.latest) Object.assign(group, { latest: row.occurred_at, lastEntryId: row.id });
  }
  return [...groups.values()];
}

function window(group: ActorGroup, windowMs: number): Record<string, string> {
  return {
    windowStart: new Date(group.latest.getTime() - windowMs).toISOString(),
    windowEnd: group.latest.toISOString(),
    lastEntryId: group.lastEntryId,
  };
}

const bigMin = (a: bigint, b: bigint): bigint => (a < b ? a : b);
