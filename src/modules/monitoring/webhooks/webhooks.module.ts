import { Module } from '@nestjs/common';
import { WebhookCircuits } from './webhook-circuits';
import { WebhookDispatcher } from './webhook-dispatcher.service';
import { WebhookMetrics } from './webhook-metrics';
import { WebhookOutbox } from './webhook-outbox.service';
import { WebhookQueue } from './webhook-queue.service';
import { WebhookSecrets } from './webhook-secrets';
import { WebhookRetryPolicy } from './webhooks.settings';
import { WebhooksResolver } from './webhooks.resolver';
import { WebhooksService } from './webhooks.service';

/**
 * Partner webhooks (part of monitoring): subscriptions managed by ADMIN, a transactional outbox the
 * monitoring pipeline writes to, and delivery on the pg-boss job queue with retries and a delivery log.
 * Exports only the outbox: other code reports what happened, never delivers.
 */
@Module({
  providers: [WebhookMetrics, WebhookRetryPolicy, WebhookCircuits, WebhookSecrets, WebhookQueue, WebhookOutbox, WebhookDispatcher, WebhooksService, WebhooksResolver],
  exports: [WebhookOutbox],
})
export class WebhooksModule {}
