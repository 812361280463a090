import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { PubSubEngine } from 'graphql-subscriptions';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import { TransactionService } from '../../../database/transaction.service';
import type { AlertModel, NotificationModel } from '../models/alert.model';
import { createLiveBus, type LiveBus } from './live-bus';

export const ALERT_RAISED = 'alertRaised';
export const NOTIFICATION_RECEIVED = 'notificationReceived';

export interface AlertRaisedPayload {
  alert: AlertModel;
}

export interface NotificationPayload {
  userId: string;
  notification: NotificationModel;
}

/**
 * Subscription fan-out. Publishing waits for the commit of the transaction that produced the alert or
 * notification, so a subscriber never hears of something a rollback takes back. With REDIS_URL set the bus
 * is Redis pub/sub and every instance's subscribers hear every instance's alerts; without it, in-process.
 */
@Injectable()
export class LiveUpdates implements OnApplicationShutdown {
  private readonly bus: LiveBus;

  constructor(private readonly tx: TransactionService, @Inject(APP_CONFIG) config: AppConfig) {
    this.bus = createLiveBus(config.redisUrl, `${config.redisKeyPrefix}live:`);
  }

  get pubsub(): PubSubEngine {
    return this.bus.pubsub;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }

  alertRaised(alert: AlertModel): void {
    this.tx.afterCommit(() => void this.pubsub.publish(ALERT_RAISED, { alert } satisfies AlertRaisedPayload));
  }

  notificationReceived(userId: string, notification: NotificationModel): void {
    this.tx.afterCommit(() => void this.pubsub.publish(NOTIFICATION_RECEIVED, { userId, notification } satisfies NotificationPayload));
  }
}
