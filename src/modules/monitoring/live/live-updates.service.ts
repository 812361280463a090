import { Injectable } from '@nestjs/common';
import { PubSub } from 'graphql-subscriptions';
import { TransactionService } from '../../../database/transaction.service';
import type { AlertModel, NotificationModel } from '../models/alert.model';

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
 * notification, so a subscriber never hears of something a rollback takes back. In-process: each instance
 * delivers to its own subscribers (a shared Redis bus for several instances is not built yet).
 */
@Injectable()
export class LiveUpdates {
  readonly pubsub = new PubSub();

  constructor(private readonly tx: TransactionService) {}

  alertRaised(alert: AlertModel): void {
    this.tx.afterCommit(() => void this.pubsub.publish(ALERT_RAISED, { alert } satisfies AlertRaisedPayload));
  }

  notificationReceived(userId: string, notification: NotificationModel): void {
    this.tx.afterCommit(() => void this.pubsub.publish(NOTIFICATION_RECEIVED, { userId, notification } satisfies NotificationPayload));
  }
}
