import { Inject, Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { AUDIT_SINK, type AuditSink } from '../../common/audit/audit-sink';
import { RequestContext } from '../../common/context/request-context';
import { Role, type Principal } from '../../common/context/principal';
import { BadUserInputError, NotFoundError } from '../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../common/pagination/connection';
import { decodeCursor, encodeCursor, pageSize } from '../../common/pagination/cursor';
import { TransactionService } from '../../database/transaction.service';
import { CustomersService, type CustomerSnapshot } from '../customers/customers.service';
import type { Severity } from '../monitoring/models/monitoring.enums';
import { ComplaintOrderField, type ComplaintActivityKind, type ComplaintActorType, type ComplaintChannel, type ComplaintStatus, type Remedy } from './models/complaint.enums';
import type { ComplaintModel, ComplaintTimelineEntryModel } from './models/complaint.model';
import type { ComplaintOrder, ComplaintsFilter } from './dto/complaint.inputs';

export interface ComplaintRow {
  id: string; customer_id: string; channel: ComplaintChannel; category: string; severity: Severity; subject: string;
  description: string | null; resolution_summary: string | null; feedback_comment: string | null; status: ComplaintStatus;
  assignee_id: string | null; filed_by_user_id: string | null; filed_by_partner_id: string | null;
  received_at: Date; acknowledge_by: Date; resolve_by: Date; acknowledged_at: Date | null; resolved_at: Date | null; closed_at: Date | null;
  escalated: boolean; escalated_at: Date | null; remedy: Remedy | null; remedy_amount: string | null; satisfaction: number | null; feedback_at: Date | null;
  reopen_count: number; created_at: Date; updated_at: Date; account_manager_id: string | null; onboarded_by_partner_id: string | null; overdue?: boolean;
}

type ActivityRow = {
  id: string; complaint_id: string; customer_id: string; kind: ComplaintActivityKind; actor_type: ComplaintActorType; actor_id: string | null;
  from_status: ComplaintStatus | null; to_status: ComplaintStatus | null; note: string | null; detail: Record<string, unknown> | null; created_at: Date;
};

/** The same test as OVERDUE_SQL, for rows loaded without it (nested connections). */
export function isOverdue(r: Pick<ComplaintRow, 'status' | 'acknowledge_by' | 'resolve_by'>, now = Date.now()): boolean {
  return (r.status === 'RECEIVED' && new Date(r.acknowledge_by).getTime() < now) || (!['RESOLVED', 'CLOSED'].includes(r.status) && new Date(r.resolve_by).getTime() < now);
}

/** A deadline has passed without the state it asks for (acknowledged; resolved). */
export const OVERDUE_SQL = `((k.status = 'RECEIVED' AND k.acknowledge_by < now()) OR (k.status NOT IN ('RESOLVED','CLOSED') AND k.resolve_by < now()))`;
const SELECT = `SELECT k.*, c.account_manager_id, c.onboarded_by_partner_id, ${OVERDUE_SQL} AS overdue FROM complaint k JOIN customer c ON c.id = k.customer_id`;

/** AAD of an encrypted complaint column: bound to the table, the column and the row. */
export const complaintAad = (column: 'description' | 'resolution_summary' | 'feedback_comment', complaintId: string) => ({ table: 'complaint', column, rowId: complaintId });
export const activityAad = (activityId: string) => ({ table: 'complaint_activity', column: 'note', rowId: activityId });

const ORDER_COLUMN: Record<ComplaintOrderField, { column: string; key: keyof ComplaintRow }> = {
  RECEIVED_AT: { column: 'k.received_at', key: 'received_at' },
  RESOLVE_BY: { column: 'k.resolve_by', key: 'resolve_by' },
};

/**
 * Reading complaints within the principal's row scope (SPEC §4/§8): compliance officers and agents see
 * all, an account manager those of the customers they manage, a partner those it filed. Out-of-scope rows
 * never load, and by id they are the same NOT_FOUND as absent ones. Free text is decrypted here, after the
 * scope has let the row through.
 */
@Injectable()
export class ComplaintReader {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    private readonly customers: CustomersService,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  principal(): Principal {
    return this.context.requirePrincipal();
  }

  /** Row scope as SQL on `k` (complaint) and `c` (its customer); parameters appended to `params`. */
  scope(principal: Principal, params: unknown[]): string {
    if (principal.kind === 'PARTNER') return ` AND k.filed_by_partner_id = $${params.push(principal.partnerId)}`;
    if (principal.role === Role.ACCOUNT_MANAGER) return ` AND c.account_manager_id = $${params.push(principal.userId)}`;
    return '';
  }

  /** The raw row in scope (for writers, optionally locked), or NOT_FOUND. */
  async row(id: string, options: { lock?: boolean } = {}): Promise<ComplaintRow> {
    if (typeof id !== 'string' || !isUUID(id)) throw BadUserInputError.field('id', 'is not a valid id');
    const params: unknown[] = [id];
    const scope = this.scope(this.principal(), params);
    const [row] = (await this.tx.manager().query(`${SELECT} WHERE k.id = $1${scope}${options.lock ? ' FOR UPDATE OF k' : ''}`, params)) as ComplaintRow[];
    if (row) return row;
    const [exists] = (await this.tx.manager().query(`SELECT customer_id FROM complaint WHERE id = $1`, [id])) as Array<{ customer_id: string }>;
    if (exists) {
      await this.audit.record({ action: 'complaint.read', outcome: 'DENIED', resourceType: 'Complaint', resourceId: id, customerId: exists.customer_id, details: { reason: 'out_of_scope' } });
    }
    throw new NotFoundError('Complaint');
  }

  async get(id: string): Promise<ComplaintModel> {
    return (await this.toModels([await this.row(id)]))[0];
  }

  async list(filter: ComplaintsFilter | undefined, orderBy: ComplaintOrder | undefined, page: PageArgs, customerIds?: readonly string[]): Promise<ConnectionShape<ComplaintModel>> {
    const limit = pageSize(page);
    const params: unknown[] = [];
    let where = 'TRUE' + this.scope(this.principal(), params);
    const add = (sql: string, value: unknown) => (where += ` AND ${sql.replace('?', `$${params.push(value)}`)}`);
    if (filter?.status) add('k.status = ?', filter.status);
    if (filter?.category) add('k.category = ?', filter.category);
    if (filter?.channel) add('k.channel = ?', filter.channel);
    if (filter?.severity) add('k.severity = ?', filter.severity);
    if (filter?.customerId) add('k.customer_id = ?', filter.customerId);
    if (filter?.assigneeId) add('k.assignee_id = ?', filter.assigneeId);
    if (filter?.escalated !== undefined && filter?.escalated !== null) add('k.escalated = ?', filter.escalated);
    if (filter?.overdue === true) where += ` AND ${OVERDUE_SQL}`;
    if (filter?.overdue === false) where += ` AND NOT ${OVERDUE_SQL}`;
    if (customerIds) add('k.customer_id = ANY(?::uuid[])', customerIds);
    const from = 'FROM complaint k JOIN customer c ON c.id = k.customer_id';
    // Only when the client selects it, with the filters as they are before the cursor's condition.
    const total = this.tx.countWhenSelected(`SELECT count(*)::int AS total ${from} WHERE ${where}`, [...params]);
    const orderField = orderBy?.field ?? ComplaintOrderField.RECEIVED_AT;
    const order = ORDER_COLUMN[orderField];
    const dir = orderBy?.direction ?? 'DESC';
    const cursorOrder = `${orderField}:${dir}`;
    if (page.after) {
      const [at, id] = decodeCursor(page.after, ['timestamptz', 'uuid'], cursorOrder);
      where += ` AND (${order.column}, k.id) ${dir === 'ASC' ? '>' : '<'} ($${params.push(at)}::timestamptz, $${params.push(id)}::uuid)`;
    }
    const rows = limit === 0 ? [] : ((await this.tx.manager().query(`${SELECT} WHERE ${where} ORDER BY ${order.column} ${dir}, k.id ${dir} LIMIT $${params.push(limit + 1)}`, params)) as ComplaintRow[]);
    const page_ = rows.slice(0, limit);
    const last = page_[page_.length - 1];
    return {
      nodes: await this.toModels(page_),
      totalCount: await total,
      pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? encodeCursor([new Date(last[order.key] as Date).toISOString(), last.id], cursorOrder) : null },
    };
  }

  /** The customers' data keys, one query for a page of complaints. */
  async keysOf(customerIds: readonly string[]): Promise<Map<string, CustomerSnapshot>> {
    const unique = [...new Set(customerIds)];
    return new Map((await this.customers.snapshots(unique, [])).map((c) => [c.id, c]));
  }

  async toModels(rows: readonly ComplaintRow[]): Promise<ComplaintModel[]> {
    const keys = await this.keysOf(rows.map((r) => r.customer_id));
    return rows.map((r) => {
      const customer = keys.get(r.customer_id);
      const open = (column: 'description' | 'resolution_summary' | 'feedback_comment') =>
        customer ? this.customers.openForCustomer(customer, complaintAad(column, r.id), r[column]) : null;
      return {
        id: r.id, customerId: r.customer_id, channel: r.channel, category: r.category, severity: r.severity, subject: r.subject,
        description: open('description'), status: r.status, assigneeId: r.assignee_id, filedByPartnerId: r.filed_by_partner_id,
        receivedAt: r.received_at, acknowledgeBy: r.acknowledge_by, resolveBy: r.resolve_by, acknowledgedAt: r.acknowledged_at, closedAt: r.closed_at,
        escalated: r.escalated, escalatedAt: r.escalated_at, overdue: r.overdue ?? isOverdue(r),
        resolution: r.resolved_at && r.remedy ? { summary: open('resolution_summary'), remedy: r.remedy, amount: r.remedy_amount === null ? null : String(r.remedy_amount), resolvedAt: r.resolved_at, customerId: r.customer_id } : null,
        feedback: r.satisfaction !== null && r.feedback_at ? { satisfaction: r.satisfaction, comment: open('feedback_comment'), recordedAt: r.feedback_at, customerId: r.customer_id } : null,
        reopenCount: r.reopen_count, createdAt: r.created_at, updatedAt: r.updated_at,
        accountManagerId: r.account_manager_id, onboardedByPartnerId: r.onboarded_by_partner_id,
      };
    });
  }

  /**
   * Timelines of several complaints (already read within scope), in the order the changes were written,
   * in one query; notes decrypted under each complaint's customer key. By `seq`, not `created_at`: one
   * transaction can write several entries within the same millisecond.
   */
  async timelines(complaintIds: readonly string[]): Promise<Map<string, ComplaintTimelineEntryModel[]>> {
    const rows = (await this.tx.manager().query(
      `SELECT a.*, k.customer_id FROM complaint_activity a JOIN complaint k ON k.id = a.complaint_id
        WHERE a.complaint_id = ANY($1::uuid[]) ORDER BY a.complaint_id, a.seq`,
      [complaintIds],
    )) as ActivityRow[];
    const keys = await this.keysOf(rows.filter((r) => r.note !== null).map((r) => r.customer_id));
    const out = new Map<string, ComplaintTimelineEntryModel[]>(complaintIds.map((id) => [id, []]));
    for (const r of rows) {
      const customer = keys.get(r.customer_id);
      out.get(r.complaint_id)?.push({
        id: r.id, kind: r.kind, actorType: r.actor_type, actorId: r.actor_id, fromStatus: r.from_status, toStatus: r.to_status,
        note: r.note && customer ? this.customers.openForCustomer(customer, activityAad(r.id), r.note) : null,
        detail: r.detail ?? {}, at: r.created_at, customerId: r.customer_id,
      });
    }
    return out;
  }
}
