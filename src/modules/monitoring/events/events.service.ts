import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { isUUID } from 'class-validator';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { RequestContext } from '../../../common/context/request-context';
import { Role, type Principal } from '../../../common/context/principal';
import { BadUserInputError, ConflictError, ForbiddenError, InvalidTransitionError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { decodeCursor, encodeCursor, pageSize } from '../../../common/pagination/cursor';
import { SortDirection } from '../../../common/pagination/sort';
import { TransactionService } from '../../../database/transaction.service';
import { CustomersService } from '../../customers/customers.service';
import { NotificationsService } from '../notifications/notifications.service';
import { WebhookOutbox } from '../webhooks/webhook-outbox.service';
import type { EventModel, HoldActionModel } from '../models/event.model';
import { EventOrderField, type EventsFilter, type EventOrder, type ResolveHoldInput } from './events.inputs';
import { EVENT_COLUMNS, toEventModel, type EventRow } from './event-row';

/** Reading events (with the hold queue) and resolving holds, within the principal's row scope. */
@Injectable()
export class EventsService {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    private readonly customers: CustomersService,
    private readonly notifications: NotificationsService,
    private readonly webhooks: WebhookOutbox,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  private principal(): Principal {
    return this.context.requirePrincipal();
  }

  private scope(params: unknown[]): string {
    const p = this.principal();
    // A partner may see the id of an event it sent (in its ingest results) but may not query events.
    if (p.kind === 'PARTNER') throw new ForbiddenError('Partners cannot read events');
    if (p.kind === 'USER' && p.role === Role.ACCOUNT_MANAGER) return ` AND c.account_manager_id = $${params.push(p.userId)}`;
    return '';
  }

  /** `field`: the argument that named the event, for the error's path (`event(id)`, `resolveHold(eventId)`). */
  async get(id: string, field = 'id'): Promise<EventModel> {
    if (!isUUID(id)) throw BadUserInputError.field(field, 'is not a valid id');
    const params: unknown[] = [id];
    const scope = this.scope(params);
    const [row] = (await this.tx.manager().query(`SELECT ${EVENT_COLUMNS}, c.account_manager_id FROM event e JOIN customer c ON c.id = e.customer_id WHERE e.id = $1${scope}`, params)) as EventRow[];
    if (!row) throw new NotFoundError('Event');
    return toEventModel(row);
  }

  /** Batched by DataLoader for `Alert.event`: in-scope events only, `null` for the others. */
  async getMany(ids: readonly string[]): Promise<Array<EventModel | null>> {
    const valid = ids.filter((id) => isUUID(id));
    if (!valid.length) return ids.map(() => null);
    const params: unknown[] = [valid];
    const scope = this.scope(params);
    const rows = (await this.tx.manager().query(`SELECT ${EVENT_COLUMNS}, c.account_manager_id FROM event e JOIN customer c ON c.id = e.customer_id WHERE e.id = ANY($1::uuid[])${scope}`, params)) as EventRow[];
    const byId = new Map(rows.map((r) => [r.id, toEventModel(r)]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  async list(filter: EventsFilter | undefined, orderBy: EventOrder | undefined, page: PageArgs): Promise<ConnectionShape<EventModel>> {
    const limit = pageSize(page);
    const params: unknown[] = [];
    let where = 'TRUE' + this.scope(params);
    if (filter?.customerId) where += ` AND e.customer_id = $${params.push(filter.customerId)}`;
    if (filter?.type) where += ` AND e.type = $${params.push(filter.type)}`;
    if (filter?.decision) where += ` AND e.decision = $${params.push(filter.decision)}`;
    if (filter?.holdStatus) where += ` AND e.hold_status = $${params.push(filter.holdStatus)}`;
    if (filter?.from) where += ` AND e.occurred_at >= $${params.push(filter.from)}`;
    if (filter?.to) where += ` AND e.occurred_at < $${params.push(filter.to)}`;
    const from = 'FROM event e JOIN customer c ON c.id = e.customer_id';
    // A COUNT over every matching event of every partition in range: only when the client selects it, with
    // the filters as they are before the cursor's condition.
    const total = this.tx.countWhenSelected(`SELECT count(*)::int AS total ${from} WHERE ${where}`, [...params]);
    const dir = orderBy?.direction === SortDirection.ASC ? 'ASC' : 'DESC';
    const orderField = orderBy?.field ?? EventOrderField.OCCURRED_AT;
    const byReceipt = orderField === EventOrderField.RECEIVED_AT;
    const column = byReceipt ? 'e.received_at' : 'e.occurred_at';
    const cursorOrder = `${orderField}:${dir}`;
    if (page.after) {
      const [at, id] = decodeCursor(page.after, ['timestamptz', 'uuid'], cursorOrder);
      where += ` AND (${column}, e.id) ${dir === 'ASC' ? '>' : '<'} ($${params.push(at)}::timestamptz, $${params.push(id)}::uuid)`;
    }
    const rows = (await this.tx.manager().query(`SELECT ${EVENT_COLUMNS}, c.account_manager_id ${from} WHERE ${where} ORDER BY ${column} ${dir}, e.id ${dir} LIMIT $${params.push(limit + 1)}`, params)) as EventRow[];
    const nodes = rows.slice(0, limit).map(toEventModel);
    const last = nodes[nodes.length - 1];
    const key = (event: EventModel) => (byReceipt ? event.receivedAt : event.occurredAt)!.toISOString();
    return { nodes, totalCount: await total, pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? encodeCursor([key(last), last.id], cursorOrder) : null } };
  }

  /** PENDING → RELEASED or PENDING → REJECTED, once; the note is encrypted under the customer's key. */
  async resolveHold(eventId: string, input: ResolveHoldInput): Promise<EventModel> {
    const event = await this.get(eventId, 'eventId');
    const to = input.release ? 'RELEASED' : 'REJECTED';
    if (event.holdStatus !== 'PENDING') throw new InvalidTransitionError('Hold', event.holdStatus ?? 'NONE', to);
    const principal = this.principal();
    return this.tx.run(async (manager) => {
      const [, count] = (await manager.query(`UPDATE event SET hold_status = $3 WHERE id = $1 AND occurred_at = $2 AND hold_status = 'PENDING'`, [eventId, event.occurredAt!.toISOString(), to])) as [unknown, number];
      if (count !== 1) {
        // Resolved meanwhile by someone else: the error names the outcome it has now.
        const [now] = (await manager.query(`SELECT hold_status FROM event WHERE id = $1 AND occurred_at = $2`, [eventId, event.occurredAt!.toISOString()])) as Array<{ hold_status: string | null }>;
        throw new InvalidTransitionError('Hold', now?.hold_status ?? 'NONE', to);
      }
      const actionId = randomUUID();
      const [customer] = await this.customers.snapshots([event.customerId!], []);
      const note = input.note && customer ? this.customers.sealForCustomer(customer, holdNoteAad(actionId), input.note) : null;
      // A note that cannot be kept is refused, not dropped: the resolution rolls back and may be sent without it.
      if (input.note && !note) throw new ConflictError('The customer is erased: a note can no longer be kept; resolve without one', { field: 'note' });
      await manager.query(`INSERT INTO hold_action (id, event_id, customer_id, outcome, actor_id, note) VALUES ($1, $2, $3, $4, $5, $6)`, [actionId, eventId, event.customerId, to, principal.kind === 'USER' ? principal.userId : null, note]);
      if (customer?.accountManagerId && !(principal.kind === 'USER' && principal.userId === customer.accountManagerId)) {
        await this.notifications.notify(manager, { userId: customer.accountManagerId, kind: 'HOLD_RESOLVED', title: `Held transaction ${to.toLowerCase()} for customer ${customer.externalRef}`, customerId: customer.id, eventId });
      }
      // webhooks: hold.resolved to the webhooks of the partner that sent the held event (its source).
      if (customer) await this.webhooks.holdResolved(manager, event.source, event, customer, to);
      await this.audit.record({ action: 'hold.resolve', outcome: 'SUCCESS', resourceType: 'Event', resourceId: eventId, customerId: event.customerId, details: { outcome: to } });
      return this.get(eventId);
    });
  }

  /**
   * The hold histories of many events (a page of the hold queue) in one statement, in the order of `eventIds`.
   * A resolution's note is opened with its customer's key, read in the same statement (null once erased).
   */
  async holdHistories(eventIds: readonly string[]): Promise<HoldActionModel[][]> {
    const rows = (await this.tx.manager().query(
      `SELECT h.id, h.event_id, h.outcome, h.actor_id, h.created_at, h.customer_id, h.note, c.data_key
         FROM hold_action h LEFT JOIN customer c ON h.note IS NOT NULL AND c.id = h.customer_id
        WHERE h.event_id = ANY($1::uuid[]) ORDER BY h.event_id, h.created_at, h.id`,
      [[...eventIds]],
    )) as Array<{ id: string; event_id: string; outcome: string; actor_id: string | null; created_at: Date; customer_id: string; note: string | null; data_key: string | null }>;
    const byEvent = new Map<string, HoldActionModel[]>(eventIds.map((id) => [id, []]));
    for (const r of rows) {
      const note = this.customers.openForCustomer({ id: r.customer_id, dataKey: r.data_key }, holdNoteAad(r.id), r.note);
      byEvent.get(r.event_id)?.push({ id: r.id, outcome: r.outcome, actorId: r.actor_id, note, createdAt: r.created_at, customerId: r.customer_id });
    }
    return eventIds.map((id) => byEvent.get(id)!);
  }
}

/** What a hold resolution's note is sealed to: its hold_action row. */
const holdNoteAad = (actionId: string) => ({ table: 'hold_action', column: 'note', rowId: actionId });
