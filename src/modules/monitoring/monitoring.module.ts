import { Global, Module } from '@nestjs/common';
import { SYSTEM_EVENT_SINK, type CustomerStatusChange, type SystemEvent, type SystemEventSink } from '../../common/audit/system-event-sink';
import { CustomersModule } from '../customers/customers.module';
import { AlertsResolver } from './alerts/alerts.resolver';
import { LiveResolver } from './live/live.resolver';
import { LoginLocksResolver } from './login-locks/login-locks.resolver';
import { LoginLocksService } from './login-locks/login-locks.service';
import { LiveUpdates } from './live/live-updates.service';
import { CustomerMonitoringResolver } from './customer-monitoring.resolver';
import { AlertsService } from './alerts/alerts.service';
import { CustomerSnapshotCache } from './events/customer-snapshot-cache';
import { DecisionPipeline } from './events/decision-pipeline.service';
import { ScreeningConsequences } from './events/screening-consequences';
import { EventPartitions } from './events/event-partitions.service';
import { EventsResolver } from './events/events.resolver';
import { EventsService } from './events/events.service';
import { IngestService } from './events/ingest.service';
import { NotificationsResolver } from './notifications/notifications.resolver';
import { NotificationsService } from './notifications/notifications.service';
import { RuleEngine } from './rules/rule-engine.service';
import { RulesResolver } from './rules/rules.resolver';
import { RulesService } from './rules/rules.service';
// webhooks: partner webhooks (outbox written by the pipeline, delivered on the job queue)
import { WebhooksModule } from './webhooks/webhooks.module';
import { WebhookOutbox } from './webhooks/webhook-outbox.service';
import { TransactionService } from '../../database/transaction.service';
import { WatchlistsResolver } from './watchlists/watchlists.resolver';
import { WatchlistsService } from './watchlists/watchlists.service';
// risk: risk score, credit assessments, early warnings (RiskService is called by alerts and the pipeline)
import { RiskModule } from './risk/risk.module';
import { RiskService } from './risk/risk.service';

/**
 * Events, rules, decisions, alerts, holds, notifications and partner webhooks. Knows customers only through their service;
 * global only so that other modules can hand it SYSTEM events through SYSTEM_EVENT_SINK.
 */
@Global()
@Module({
  imports: [CustomersModule, WebhooksModule, RiskModule],
  providers: [
    {
      provide: SYSTEM_EVENT_SINK,
      useFactory: (ingest: IngestService, webhooks: WebhookOutbox, tx: TransactionService, risk: RiskService, snapshots: CustomerSnapshotCache): SystemEventSink => ({
        record: (e: SystemEvent) => ingest.recordSystemEvent(e),
        customerStatusChanged: async (c: CustomerStatusChange) => {
          await webhooks.publish(tx.manager(), c.onboardedByPartnerId, 'customer.status_changed', {
            customerId: c.customerId, customerExternalRef: c.externalRef, previousStatus: c.from, status: c.to, at: new Date().toISOString(),
          });
          // The next call for this customer reads it afresh instead of screening (and sealing) with the old snapshot.
          tx.afterCommit(() => snapshots.forget([c.customerId]));
        },
        customerCreated: async (customerId: string) => {
          await risk.recompute(tx.manager(), customerId, 'customer.created');
        },
      }),
      inject: [IngestService, WebhookOutbox, TransactionService, RiskService, CustomerSnapshotCache],
    },
    RuleEngine, RulesService, AlertsService, NotificationsService, CustomerSnapshotCache, ScreeningConsequences, DecisionPipeline, IngestService, EventsService,
    EventsResolver, AlertsResolver, RulesResolver, NotificationsResolver, CustomerMonitoringResolver,
    WatchlistsService, WatchlistsResolver,
    LiveUpdates, LiveResolver,
    LoginLocksService, LoginLocksResolver,
    // keeps monthly event partitions created ahead (at start-up, then daily)
    EventPartitions,
  ],
  // WebhooksModule re-exported: other modules may report complaint.updated / customer.status_changed.
  // AlertsService: complaints raise SLA_BREACH and SYSTEMIC alerts (raiseUnruled).
  exports: [IngestService, NotificationsService, AlertsService, SYSTEM_EVENT_SINK, WebhooksModule, RiskModule],
})
export class MonitoringModule {}
