import { Injectable } from '@nestjs/common';
import type { PartnerScope } from '../../../common/context/principal';

/** What a partner may subscribe to (SPEC §8 "Answers"). GraphQL enum values cannot hold dots, hence strings. */
export const WEBHOOK_EVENT_TYPES = ['alert.raised', 'hold.placed', 'hold.resolved', 'complaint.updated', 'customer.status_changed'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * The partner scope a webhook event type needs, checked against the partner's current `allowedScopes` when
 * a message is addressed and again before every attempt (docs/WEBHOOKS.md "Who may receive"). A message may
 * say no more than the partner could read or was party to through the API: complaint changes are what
 * `complaints:read` shows, a customer's status is what `customers:read` shows, and holds and alerts concern
 * events the partner sent, which it does with `events:write`.
 */
export const WEBHOOK_EVENT_SCOPES: Readonly<Record<WebhookEventType, PartnerScope>> = {
  'alert.raised': 'events:write',
  'hold.placed': 'events:write',
  'hold.resolved': 'events:write',
  'complaint.updated': 'complaints:read',
  'customer.status_changed': 'customers:read',
};

/** The scope `type` needs; an unknown type (an old row, say) needs a scope no partner has. */
export const webhookScopeFor = (type: string): string => WEBHOOK_EVENT_SCOPES[type as WebhookEventType] ?? `unknown:${type}`;

/**
 * Fixed limits of webhook delivery. Constants rather than env variables (as in the audit module): a change
 * is a reviewed code change. The retry schedule is the one tunable part, see {@link WebhookRetryPolicy}.
 */
export const WEBHOOK_SETTINGS = {
  /** pg-boss queue carrying one job per delivery attempt. */
  queue: 'webhook-delivery',
  /** Schema pg-boss installs and migrates itself in the application database. */
  queueSchema: 'pgboss',
  /** Connections of pg-boss's own pool (polling, completing jobs). */
  queuePoolSize: 4,
  /** Attempts run concurrently per instance (one worker loop each, one job at a time). */
  workers: 4,
  /**
   * How often an idle worker polls. The instance that committed an outbox row wakes its workers at once;
   * this bounds the latency on the other instances and of retries.
   */
  pollingIntervalMs: { default: 1_000, test: 250 },
  /** A receiver has this long to answer (connect, headers and body). */
  timeoutMs: 10_000,
  /** Response bodies are read up to this size and thrown away (never stored). */
  maxResponseBytes: 64 * 1024,
  /** An attempt holds its outbox row this long; a crashed attempt becomes retryable after it. */
  leaseMs: 30_000,
  /** pg-boss fails (and retries) a job whose handler runs longer than this. */
  jobExpireSeconds: 60,
  /** pg-boss's own retries of a job whose handler failed for an infrastructure reason (not a receiver error). */
  jobRetry: { retryLimit: 3, retryDelay: 5, retryBackoff: true },
  /**
   * Safety net: PENDING rows whose attempt is this overdue and not leased get a new job (a job lost to an
   * operator purge or to repeated infrastructure failures). Several instances share the work (SKIP LOCKED).
   */
  sweep: { intervalMs: 60_000, overdueMs: 5 * 60_000, batchSize: 100 },
  /** Live webhooks per partner: every event fans out to each of them. */
  maxWebhooksPerPartner: 10,
  /** Graceful shutdown waits this long for attempts in flight. */
  shutdownTimeoutMs: 15_000,
} as const;

/**
 * Exponential backoff between attempts: `baseDelayMs × factor^(attempt − 1)`, capped at `maxDelayMs`; after
 * `maxAttempts` failures the message is dead-lettered. Defaults: 6 attempts, waits of 10 s, 40 s, 160 s,
 * ~11 min and ~43 min — about an hour from first to last attempt, enough to ride out a short outage.
 * An injectable object so a test app can shorten the schedule (`app.get(WebhookRetryPolicy)`).
 */
@Injectable()
export class WebhookRetryPolicy {
  maxAttempts = 6;
  baseDelayMs = 10_000;
  factor = 4;
  maxDelayMs = 60 * 60_000;

  /** Wait after failed attempt number `attempt` (1-based). */
  delayAfter(attempt: number): number {
    return Math.min(this.baseDelayMs * this.factor ** Math.max(0, attempt - 1), this.maxDelayMs);
  }
}
