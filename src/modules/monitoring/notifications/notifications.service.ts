import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { RequestContext } from '../../../common/context/request-context';
import { BadUserInputError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { decodeCursor, encodeCursor, pageSize } from '../../../common/pagination/cursor';
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

/** In-app notifications for staff; written in the transaction of the change that caused them. */
@Injectable()
export class NotificationsService {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    private readonly live: LiveUpdates,
  ) {}

  async notify(manager: EntityManager, n: NewNotification): Promise<void> {
    const [row] = (await manager.query(
      `INSERT INTO notification (user_id, kind, title, customer_id, alert_id, event_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [n.userId, n.kind, n.title, n.customerId ?? null, n.alertId ?? null, n.eventId ?? null],
    )) as Row[];
    this.live.notificationReceived(n.userId, toModel(row));
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
      const [at, id] = decodeCursor(page.after, 2);
      params.push(at, id);
      where += ` AND (created_at, id) < ($2::timestamptz, $3::uuid)`;
    }
    const rows = (await this.tx.manager().query(`SELECT * FROM notification WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`, params)) as Row[];
    const nodes = rows.slice(0, limit);
    const last = nodes[nodes.length - 1];
    return {
      nodes: nodes.map(toModel),
      totalCount: total,
      pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? encodeCursor([new Date(last.created_at).toISOString(), last.id]) : null },
    };
  }

  async markRead(id: string): Promise<NotificationModel> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw BadUserInputError.field('id', 'is not a valid id');
    const [rows] = (await this.tx.manager().query(
      `UPDATE notification SET read_at = coalesce(read_at, now()) WHERE id = $1 AND user_id = $2 RETURNING *`,
      [id, this.me()],
    )) as [Row[], number];
    if (!rows.length) throw new NotFoundError('Notification');
    return toModel(rows[0]);
  }
}
