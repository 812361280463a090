import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { MetricsService } from '../../../health/metrics.service';
import { WebhookCircuits } from './webhook-circuits';

/**
 * Queue lag on /metrics: how long the oldest webhook message that is due has been waiting, and how many
 * are due. Read at scrape time from the outbox (the record of what must still be delivered), so it holds
 * across instances and restarts; a lag that only grows means delivery has stalled.
 */
@Injectable()
export class WebhookMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly dataSource: DataSource,
    private readonly circuits: WebhookCircuits,
  ) {}

  onModuleInit(): void {
    const due = () =>
      this.dataSource.query(
        `SELECT count(*)::int AS due, COALESCE(EXTRACT(EPOCH FROM now() - min(next_attempt_at)), 0)::float AS lag
           FROM webhook_outbox WHERE status = 'PENDING' AND next_attempt_at <= now()`,
      ) as Promise<Array<{ due: number; lag: number }>>;
    this.metrics.registerGauge('custos_queue_lag_seconds', 'Age of the oldest due, undelivered webhook message (0 when none)', async () => {
      const [row] = await due();
      return [{ labels: { queue: 'webhooks' }, value: Math.max(0, row.lag) }];
    }, ['queue']);
    this.metrics.registerGauge('custos_queue_due_messages', 'Webhook messages due for delivery and not yet delivered', async () => {
      const [row] = await due();
      return [{ labels: { queue: 'webhooks' }, value: row.due }];
    }, ['queue']);
    // Per instance (each learns on its own): webhooks whose attempts are held back after repeated failures.
    this.metrics.registerGauge('custos_webhook_circuits_open', 'Webhooks whose attempts this instance holds back after repeated failures', () => Promise.resolve([{ labels: {}, value: this.circuits.openCount() }]));
  }
}
