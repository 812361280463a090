import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import type { EntityManager } from 'typeorm';
import { TransactionService } from '../../../database/transaction.service';
import { partnerInForceSql } from '../../identity/partners/partner-standing';
import { WebhookCircuits } from './webhook-circuits';
import { postJson, type PostResult } from './webhook-http';
import { WebhookQueue, type DeliveryJob } from './webhook-queue.service';
import { refusalOf, type RecipientState } from './webhook-recipients';
import { WebhookSecrets } from './webhook-secrets';
import { signatureHeader } from './webhook-signature';
import { WebhookRetryPolicy, WEBHOOK_SETTINGS } from './webhooks.settings';

/**
 * The row as this attempt leased it: still PENDING, with the attempts before this one ($2) spent. Every write
 * that settles or puts off an attempt is conditional on it, so a worker whose lease ran out, or a duplicate
 * job, changes nothing another worker has already settled.
 */
const AT_THIS_ATTEMPT = `id = $1 AND status = 'PENDING' AND attempts = $2::int - 1`;

type Claimed = RecipientState & {
  id: string; payload: Record<string, unknown>; created_at: Date; webhook_id: string; url: string;
};

/** What one attempt led to, as written in the delivery log. */
export type AttemptStatus = 'DELIVERED' | 'FAILED' | 'DEAD';
/** An attempt held back by its webhook's open circuit: not sent, not spent, not logged (see WebhookCircuits). */
export type HeldBack = 'HELD';

/**
 * Delivers outbox rows, one attempt per job. An attempt leases its row (so a duplicate job does nothing),
 * POSTs outside any transaction, then in one transaction records the outcome on the row, appends to the
 * delivery log and — after a failure with attempts left — queues the next attempt after the backoff.
 * Before each POST the recipient is checked again (`refusalOf`): a webhook deleted or deactivated, or a
 * partner suspended, out of agreement or without the type's scope since the message was queued, gets
 * nothing — the message is dead-lettered with the reason, on the row and in the delivery log.
 * The row is the source of truth; jobs only say "try attempt N of row X now".
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Webhooks');
  private readonly blockPrivate: boolean;
  private readonly inFlight = new Set<Promise<unknown>>();
  private sweepTimer?: NodeJS.Timeout;
  private sweeping: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly tx: TransactionService,
    private readonly queue: WebhookQueue,
    private readonly secrets: WebhookSecrets,
    private readonly retry: WebhookRetryPolicy,
    private readonly circuits: WebhookCircuits,
  ) {
    this.blockPrivate = config.isProduction && !config.webhookAllowPrivate;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.start((job) => this.track(this.deliver(job)));
    this.sweepTimer = setInterval(() => {
      this.sweeping = this.sweeping.then(() => this.sweep()).catch((error: unknown) => this.logger.warn(`webhook sweep failed: ${(error as Error).message}`));
    }, WEBHOOK_SETTINGS.sweep.intervalMs);
    this.sweepTimer.unref();
  }

  /** Before the database pool closes: stop taking jobs, let attempts in flight finish (bounded). */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.queue.stop();
    await Promise.allSettled([...this.inFlight, this.sweeping]);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work)).catch(() => undefined);
    return work;
  }

  /** One attempt. Throws only for infrastructure failures (pg-boss then retries the job). */
  async deliver(job: DeliveryJob): Promise<AttemptStatus | HeldBack | null> {
    const claimed = await this.claim(job);
    if (!claimed) return null;
    const refusal = refusalOf(claimed);
    if (refusal) return this.refuse(claimed, job.attempt, refusal);
    let secret: string;
    try {
      // refusalOf has checked that the webhook is live, so its secret is there.
      secret = this.secrets.open(claimed.webhook_id, claimed.secret_enc!, claimed.data_key!);
    } catch {
      // A key-encryption key removed from PII_KEYS, say: nothing can be signed, so the attempt fails.
      return this.record(claimed, job.attempt, { statusCode: null, error: 'the signing secret cannot be opened', durationMs: 0 });
    }
    const admission = this.circuits.admit(claimed.webhook_id);
    if (!admission.send) return this.holdBack(claimed, job.attempt, admission.until);
    let result: PostResult;
    try {
      result = await this.post(claimed, job.attempt, secret);
    } catch (error) {
      this.circuits.abandon(claimed.webhook_id, admission);
      throw error;
    }
    this.circuits.record(claimed.webhook_id, admission, result.error === null);
    return this.record(claimed, job.attempt, result);
  }

  private post(claimed: Claimed, attempt: number, secret: string): Promise<PostResult> {
    // The same bytes on every attempt: receivers may deduplicate on the id or on the body.
    const body = JSON.stringify({ id: claimed.id, type: claimed.event_type, createdAt: new Date(claimed.created_at).toISOString(), data: claimed.payload });
    return postJson(
      claimed.url,
      body,
      {
        'content-type': 'application/json',
        'user-agent': 'Custos-Webhooks/1',
        'x-custos-event': claimed.event_type,
        'x-custos-delivery': claimed.id,
        'x-custos-attempt': String(attempt),
        'x-custos-signature': signatureHeader(secret, body, Math.floor(Date.now() / 1000)),
      },
      { timeoutMs: WEBHOOK_SETTINGS.timeoutMs, maxResponseBytes: WEBHOOK_SETTINGS.maxResponseBytes, blockPrivate: this.blockPrivate },
    );
  }

  /**
   * Puts the attempt off until `until` without spending it: the lease is released, the row's next attempt
   * moves (so neither the sweep nor the queue-lag gauge counts it as overdue) and the same attempt is queued
   * again, in one transaction. Nothing goes to the delivery log: nothing was sent.
   */
  private async holdBack(claimed: Claimed, attempt: number, until: Date): Promise<HeldBack | null> {
    return this.tx.run(async (manager) => {
      const [rows] = (await manager.query(
        `UPDATE webhook_outbox SET locked_until = NULL, next_attempt_at = $3::timestamptz, updated_at = now()
          WHERE ${AT_THIS_ATTEMPT} RETURNING id`,
        [claimed.id, attempt, until.toISOString()],
      )) as [Array<{ id: string }>, number];
      if (!rows.length) return null;
      await this.queue.enqueue(manager, { outboxId: claimed.id, attempt }, until);
      return 'HELD' as const;
    });
  }

  /**
   * Leases the row for this attempt, or null when the job is stale, a duplicate, or the row is settled.
   * Reads, in the same statement, the webhook's state and its partner's standing and allowed scopes.
   */
  private async claim(job: DeliveryJob): Promise<Claimed | null> {
    const [rows] = (await this.tx.manager().query(
      `UPDATE webhook_outbox o SET locked_until = now() + make_interval(secs => $3::int / 1000.0), updated_at = now()
         FROM webhook w JOIN partner p ON p.id = w.partner_id
        WHERE o.id = $1 AND w.id = o.webhook_id AND o.status = 'PENDING' AND o.attempts = $2::int - 1
          AND (o.locked_until IS NULL OR o.locked_until < now())
        RETURNING o.id, o.event_type, o.payload, o.created_at, w.id AS webhook_id, w.url, w.secret_enc, w.data_key, w.active, w.deleted_at, w.event_types,
                  p.suspended_at IS NOT NULL AS partner_suspended, ${partnerInForceSql('p')} AS partner_in_force, p.allowed_scopes`,
      [job.outboxId, job.attempt, WEBHOOK_SETTINGS.leaseMs],
    )) as [Claimed[], number];
    return rows[0] ?? null;
  }

  /**
   * A message its recipient may no longer receive: dead-lettered without a request, the reason kept on the
   * row (`last_error`) and in the delivery log (a `DEAD` entry with no status code). Not replayed later:
   * an operator may re-queue it deliberately (docs/WEBHOOKS.md), and it is checked again then.
   */
  private async refuse(claimed: Claimed, attempt: number, reason: string): Promise<AttemptStatus | null> {
    const recorded = await this.tx.run(async (manager) => {
      const [rows] = (await manager.query(
        `UPDATE webhook_outbox SET status = 'DEAD', last_error = $3, locked_until = NULL, updated_at = now()
          WHERE ${AT_THIS_ATTEMPT} RETURNING id`,
        [claimed.id, attempt, reason],
      )) as [Array<{ id: string }>, number];
      if (!rows.length) return false;
      await this.logAttempt(manager, claimed, attempt, 'DEAD', { statusCode: null, error: reason, durationMs: 0 });
      return true;
    });
    if (recorded) this.logger.warn(`webhook delivery ${claimed.id} (${claimed.event_type}) dead-lettered before attempt ${attempt}: ${reason}`);
    return recorded ? 'DEAD' : null;
  }

  private async record(claimed: Claimed, attempt: number, result: PostResult): Promise<AttemptStatus | null> {
    const delivered = result.error === null;
    const status: AttemptStatus = delivered ? 'DELIVERED' : attempt >= this.retry.maxAttempts ? 'DEAD' : 'FAILED';
    const nextAt = status === 'FAILED' ? new Date(Date.now() + this.retry.delayAfter(attempt)) : null;
    const recorded = await this.tx.run(async (manager) => {
      const [rows] = (await manager.query(
        `UPDATE webhook_outbox
            SET attempts = $2::int, status = $3, next_attempt_at = COALESCE($4::timestamptz, next_attempt_at), locked_until = NULL,
                last_status_code = $5::int, last_error = $6, delivered_at = CASE WHEN $3 = 'DELIVERED' THEN now() END, updated_at = now()
          WHERE ${AT_THIS_ATTEMPT}
          RETURNING id`,
        [claimed.id, attempt, status === 'FAILED' ? 'PENDING' : status, nextAt?.toISOString() ?? null, result.statusCode, result.error],
      )) as [Array<{ id: string }>, number];
      // The lease ran out and another worker already settled this attempt: keep its record.
      if (!rows.length) return false;
      await this.logAttempt(manager, claimed, attempt, status, result);
      if (nextAt) await this.queue.enqueue(manager, { outboxId: claimed.id, attempt: attempt + 1 }, nextAt);
      return true;
    });
    if (recorded && status === 'DEAD') this.logger.warn(`webhook delivery ${claimed.id} (${claimed.event_type}) dead-lettered after ${attempt} attempts: ${result.error}`);
    return recorded ? status : null;
  }

  /** The attempt's entry in the delivery log, in the transaction that settled its row. */
  private async logAttempt(manager: EntityManager, claimed: Claimed, attempt: number, status: AttemptStatus, result: PostResult): Promise<void> {
    await manager.query(
      `INSERT INTO webhook_delivery (outbox_id, webhook_id, event_type, attempt, status, status_code, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [claimed.id, claimed.webhook_id, claimed.event_type, attempt, status, result.statusCode, result.error, result.durationMs],
    );
  }

  /**
   * Safety net for rows whose job is gone (purged by an operator, or failed by pg-boss after repeated
   * infrastructure errors): PENDING, overdue by `sweep.overdueMs` and not leased → a new job. Instances
   * share the scan (SKIP LOCKED); a spurious duplicate job finds the row leased or settled and does nothing.
   */
  async sweep(): Promise<number> {
    return this.tx.run(async (manager) => {
      const rows = (await manager.query(
        `SELECT id, attempts FROM webhook_outbox
          WHERE status = 'PENDING' AND next_attempt_at < now() - make_interval(secs => $1::int / 1000.0)
            AND (locked_until IS NULL OR locked_until < now())
          ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [WEBHOOK_SETTINGS.sweep.overdueMs, WEBHOOK_SETTINGS.sweep.batchSize],
      )) as Array<{ id: string; attempts: number }>;
      if (!rows.length) return 0;
      await manager.query(`UPDATE webhook_outbox SET next_attempt_at = now(), updated_at = now() WHERE id = ANY ($1::uuid[])`, [rows.map((r) => r.id)]);
      await this.queue.enqueueMany(manager, rows.map((row) => ({ outboxId: row.id, attempt: row.attempts + 1 })));
      this.logger.warn(`webhook sweep re-queued ${rows.length} overdue deliveries`);
      return rows.length;
    });
  }
}
