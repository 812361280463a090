import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { RequestContext } from '../../../common/context/request-context';
import { BadUserInputError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { decodeCursor, encodeCursor, pageSize } from '../../../common/pagination/cursor';
import { NotifyTransport } from '../../../common/notify/notify-transport';
import { TransactionService } from '../../../database/transaction.service';
import type { NotificationModel } from '../models/alert.model';
import { LiveUpdates } from '../live/live-updates.service';

export interface NewNotification {
  userId: string;
  kind: string;
  /** Human text without PII (ids and amounts only). */
  title: string;
  customerId?: string | null;
  alertId?: string | null;
  eventId?: string | null;
}

type Row = { id: string; kind: string; title: string; customer_id: string | null; alert_id: string | null; event_id: string | null; read_at: Date | null; created_at: Date };
const toModel = (r: Row): NotificationModel => ({ id: r.id, kind: r.kind, title: r.title, customerId: r.customer_id, alertId: r.alert_id, eventId: r.event_id, read: r.read_at !== null, createdAt: r.created_at });

/**
 * Notifications for staff, written in the transaction of the change that caused them, then (after commit)
 * pushed to the user's live subscriptions and sent to the user's e-mail through NOTIFY_TRANSPORT.
 */
@Injectable()
export class NotificationsService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(NotificationsService.name);
  /** E-mails handed to the transport and not yet settled: shutdown waits for them (see beforeApplicationShutdown). */
  private readonly sending = new Set<Promise<void>>();

  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    private readonly live: LiveUpdates,
    private readonly transport: NotifyTransport,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  async notify(manager: EntityManager, n: NewNotification): Promise<void> {
    const [row] = (await manager.query(
      `INSERT INTO notification (user_id, kind, title, customer_id, alert_id, event_id) VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING *, (SELECT email FROM app_user WHERE id = $1 AND disabled_at IS NULL) AS recipient`,
      [n.userId, n.kind, n.title, n.customerId ?? null, n.alertId ?? null, n.eventId ?? null],
    )) as Array<Row & { recipient: string | null }>;
    const notification = toModel(row);
    this.live.notificationReceived(n.userId, notification);
    if (row.recipient) this.tx.afterCommit(() => this.dispatch(row.recipient!, notification));
  }

  /** Many notifications in one statement (a batch of events), each then pushed and sent as `notify` does. */
  async notifyAll(manager: EntityManager, list: readonly NewNotification[]): Promise<void> {
    if (!list.length) return;
    const rows = (await manager.query(
      `INSERT INTO notification (user_id, kind, title, customer_id, alert_id, event_id)
       SELECT user_id, kind, title, customer_id, alert_id, event_id
         FROM jsonb_to_recordset($1::jsonb) AS x(n int, user_id uuid, kind text, title text, customer_id uuid, alert_id uuid, event_id uuid)
        ORDER BY n
       RETURNING *, (SELECT email FROM app_user WHERE id = user_id AND disabled_at IS NULL) AS recipient`,
      [JSON.stringify(list.map((n, i) => ({ n: i, user_id: n.userId, kind: n.kind, title: n.title, customer_id: n.customerId ?? null, alert_id: n.alertId ?? null, event_id: n.eventId ?? null })))],
    )) as Array<Row & { user_id: string; recipient: string | null }>;
    for (const row of rows) {
      const notification = toModel(row);
      this.live.notificationReceived(row.user_id, notification);
      if (row.recipient) this.tx.afterCommit(() => this.dispatch(row.recipient!, notification));
    }
  }

  /**
   * Runs after the request's transaction: nothing awaits the e-mail there (the caller already has its answer),
   * so it is tracked here instead, or a shutdown right after a hold would drop the account manager's e-mail.
   */
  private dispatch(to: string, n: NotificationModel): void {
    const sending = this.send(to, n).finally(() => this.sending.delete(sending));
    this.sending.add(sending);
  }

  /**
   * Before the pool and the rest close, e-mails in flight get to finish: each transport bounds its own attempt
   * (the webhook transport's timeout), and `send` never rejects, so this ends.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.sending.size) return;
    this.logger.log(`waiting for ${this.sending.size} notification e-mail(s) in flight`);
    await Promise.all([...this.sending]);
  }

  /**
   * Best effort: the notification itself is committed and listed by `myNotifications`, so a transport that is
   * down loses the e-mail, not the notice; the failure is logged without the message.
   */
  private async send(to: string, n: NotificationModel): Promise<void> {
    try {
      await this.transport.send({ channel: 'EMAIL', to, subject: `Custos: ${n.kind.toLowerCase().replace(/_/g, ' ')}`, body: n.title, reference: n.eventId ?? n.alertId ?? n.id });
    } catch (error) {
      this.logger.warn(`notification ${n.id} (${n.kind}) not sent: ${(error as Error).message}`);
    }
  }

  private me(): string {
    return this.context.requireStaff().userId;
  }

  async mine(unreadOnly: boolean, page: PageArgs): Promise<ConnectionShape<NotificationModel>> {
    const userId = this.me();
    const limit = pageSize(page);
    const params: unknown[] = [userId];
    let where = 'user_id = $1';
    if (unreadOnly) where += ' AND read_at IS NULL';
    const [{ total }] = (await this.tx.manager().query(`SELECT count(*)::int AS total FROM notification WHERE ${where}`, params)) as Array<{ total: number }>;
    if (page.after) {
      const [at, id] = decodeCursor(page.after, ['timestamptz', 'uuid']);
      params.push(at, id);
      where += ` AND (created_at, id) < ($2::timestamptz, $3::uuid)`;
    }
    const rows = (await this.tx.manager().query(`SELECT * FROM notification WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT $${params.push(limit + 1)}`, params)) as Row[];
    const nodes = rows.slice(0, limit);
    const last = nodes[nodes.length - 1];
    return {
      nodes: nodes.map(toModel),
      totalCount: total,
      pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? encodeCursor([new Date(last.created_at).toISOString(), last.id]) : null },
    };
  }

  /** Marks one of the caller's notifications read (a repeat leaves the first reading), audited as every mutation is. */
  async markRead(id: string): Promise<NotificationModel> {
    if (!isUUID(id)) throw BadUserInputError.field('id', 'is not a valid id');
    return this.tx.run(async (manager) => {
      // The locked read gives the state before this call, also when two calls race.
      const [rows] = (await manager.query(
        `UPDATE notification n SET read_at = coalesce(n.read_at, now())
           FROM (SELECT id, read_at FROM notification WHERE id = $1 AND user_id = $2 FOR UPDATE) AS before
          WHERE n.id = before.id RETURNING n.*, before.read_at IS NULL AS newly_read`,
        [id, this.me()],
      )) as [Array<Row & { newly_read: boolean }>, number];
      if (!rows.length) throw new NotFoundError('Notification');
      await this.audit.record({ action: 'notification.read', outcome: 'SUCCESS', resourceType: 'Notification', resourceId: id, details: { kind: rows[0].kind, firstRead: rows[0].newly_read } });
      return toModel(rows[0]);
    });
  }
}
