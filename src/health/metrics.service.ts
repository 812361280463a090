import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One Prometheus registry per application instance (not prom-client's global one), so several apps in one
 * process — as in the tests — never collide on metric names.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'custos_http_request_duration_seconds',
    help: 'HTTP request latency by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly graphqlDuration = new Histogram({
    name: 'custos_graphql_operation_duration_seconds',
    help: 'GraphQL operation latency by operation name, type and outcome',
    labelNames: ['operation', 'type', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly graphqlErrors = new Counter({
    name: 'custos_graphql_errors_total',
    help: 'GraphQL errors by extensions.code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly eventsScreened = new Counter({
    name: 'custos_events_ingested_total',
    help: 'Events screened and committed, by type and source (PARTNER or SYSTEM)',
    labelNames: ['type', 'source'] as const,
    registers: [this.registry],
  });

  readonly decisions = new Counter({
    name: 'custos_decisions_total',
    help: 'Decisions on committed events, by decision',
    labelNames: ['decision'] as const,
    registers: [this.registry],
  });

  readonly alertsRaised = new Counter({
    name: 'custos_alerts_raised_total',
    help: 'New alerts committed (repeats inside a dedup window not counted), by kind and severity',
    labelNames: ['kind', 'severity'] as const,
    registers: [this.registry],
  });

  readonly customerLookups = new Counter({
    name: 'custos_ingest_customer_lookups_total',
    help: 'Customers an ingest call resolved, by where the snapshot came from (cached or read)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly staleSnapshots = new Counter({
    name: 'custos_ingest_stale_snapshot_retries_total',
    help: 'Ingest calls rolled back and screened again because a customer changed after its snapshot was taken',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'custos_' });
  }

  /**
   * A gauge read at scrape time (queue lag, say). The module that owns the data registers it, so this
   * service knows no domain table; a failing reader leaves the gauge unset for that scrape.
   */
  registerGauge(name: string, help: string, read: () => Promise<Array<{ labels: Record<string, string>; value: number }>>, labelNames: string[] = []): void {
    if (this.registry.getSingleMetric(name)) return;
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        const samples = await read().catch(() => []);
        for (const { labels, value } of samples) this.set(labels, value);
      },
    });
  }
}
