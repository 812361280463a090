import { Inject, Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { RequestContext } from '../../../common/context/request-context';
import { dataKeyOwner } from '../../../common/crypto/envelope';
import { PiiVault } from '../../../common/crypto/pii-vault.service';
import { Role, type Principal } from '../../../common/context/principal';
import { BadUserInputError, ConflictError, InvalidTransitionError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { decodeCursor, encodeCursor, pageSize } from '../../../common/pagination/cursor';
import { TransactionService } from '../../../database/transaction.service';
import { MetricsService } from '../../../health/metrics.service';
import { UsersService } from '../../identity/users/users.service';
import { CustomersService } from '../../customers/customers.service';
import { RiskService } from '../risk/risk.service';
import { LiveUpdates } from '../live/live-updates.service';
import { NotificationsService } from '../notifications/notifications.service';
import { randomUUID } from 'node:crypto';
import { AlertActivityKind, AlertOrderField, type AlertActivityModel, type AlertModel, type AlertOrder, type AlertsFilter, type TransitionAlertInput } from '../models/alert.model';
import { SortDirection } from '../../../common/pagination/sort';
import { AlertKind, AlertStatus, AlertTarget, Disposition, Severity } from '../models/monitoring.enums';
import { canTransition } from './alert-transitions';

type Row = {
  id: string; kind: AlertKind; rule_id: string | null; customer_id: string | null; event_id: string | null; severity: Severity;
  status: AlertStatus; occurrences: number; assignee_id: string | null; disposition: Disposition | null;
  first_seen_at: Date; last_seen_at: Date; closed_at: Date | null; created_at: Date; account_manager_id?: string | null;
};
export const toAlertModel = (r: Row): AlertModel => ({
  id: r.id, kind: r.kind, severity: r.severity, status: r.status, occurrences: r.occurrences, disposition: r.disposition,
  eventId: r.event_id, assigneeId: r.assignee_id, firstSeenAt: r.first_seen_at, lastSeenAt: r.last_seen_at, closedAt: r.closed_at,
  createdAt: r.created_at, ruleId: r.rule_id, customerId: r.customer_id, accountManagerId: r.account_manager_id ?? null,
});

/** Alerts: raised (deduplicated) by the ingest pipeline (AlertBook), triaged by analysts and compliance officers. */
@Injectable()
export class AlertsService {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    private readonly users: UsersService,
    private readonly customers: CustomersService,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    private readonly risk: RiskService,
    private readonly live: LiveUpdates,
    private readonly metrics: MetricsService,
    private readonly vault: PiiVault,
    private readonly notifications: NotificationsService,
  ) {}

  /**
   * An alert no rule raised (SPEC §8 `Alert.kind`): `SLA_BREACH` for a complaint's customer, or `SYSTEMIC`
   * (a complaint spike) with neither rule nor customer. Always a new alert — the caller deduplicates — in
   * the caller's transaction; subscribers hear of it after commit.
   */
  async raiseUnruled(manager: EntityManager, a: { kind: AlertKind.SLA_BREACH | AlertKind.SYSTEMIC; customerId: string | null; severity: Severity; occurredAt: Date }): Promise<AlertModel> {
    const [row] = (await manager.query(
      `INSERT INTO alert (kind, customer_id, severity, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $4, $4)
       RETURNING *, (SELECT account_manager_id FROM customer WHERE id = $2) AS account_manager_id`,
      [a.kind, a.customerId, a.severity, a.occurredAt.toISOString()],
    )) as Row[];
    const alert = toAlertModel(row);
    this.live.alertRaised(alert);
    this.tx.afterCommit(() => this.metrics.alertsRaised.inc({ kind: alert.kind, severity: alert.severity }));
    if (a.customerId) await this.risk.recompute(manager, a.customerId, 'alert.raised');
    return alert;
  }

  /** Counts one more occurrence of an open alert raised by {@link raiseUnruled} (a running spike, say). */
  async repeatUnruled(manager: EntityManager, alertId: string, occurredAt: Date): Promise<void> {
    await manager.query(
      `UPDATE alert SET occurrences = occurrences + 1, last_seen_at = greatest(last_seen_at, $2), updated_at = now() WHERE id = $1 AND kind <> 'RULE'`,
      [alertId, occurredAt.toISOString()],
    );
  }

  private principal(): Principal {
    return this.context.requirePrincipal();
  }

  /** Row scope: an account manager sees alerts of the customers they manage. */
  private scope(principal: Principal, params: unknown[]): string {
    if (principal.kind === 'USER' && principal.role === Role.ACCOUNT_MANAGER) {
      params.push(principal.userId);
      return ` AND c.account_manager_id = $${params.length}`;
    }
    return '';
  }

  async get(id: string): Promise<AlertModel> {
    if (!isUUID(id)) throw BadUserInputError.field('id', 'is not a valid id');
    const params: unknown[] = [id];
    const scope = this.scope(this.principal(), params);
    const [row] = (await this.tx.manager().query(
      `SELECT a.*, c.account_manager_id FROM alert a LEFT JOIN customer c ON c.id = a.customer_id WHERE a.id = $1${scope}`,
      params,
    )) as Row[];
    if (!row) throw new NotFoundError('Alert');
    return toAlertModel(row);
  }

  async list(filter: AlertsFilter | undefined, page: PageArgs, customerIds?: readonly string[], orderBy?: AlertOrder): Promise<ConnectionShape<AlertModel>> {
    const limit = pageSize(page);
    const params: unknown[] = [];
    let where = 'TRUE' + this.scope(this.principal(), params);
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where += ` AND ${sql.replace('?', `$${params.length}`)}`;
    };
    if (filter?.status) add('a.status = ?', filter.status);
    if (filter?.severity) add('a.severity = ?', filter.severity);
    if (filter?.ruleId) add('a.rule_id = ?', filter.ruleId);
    if (filter?.customerId) add('a.customer_id = ?', filter.customerId);
    if (filter?.assigneeId) add('a.assignee_id = ?', filter.assigneeId);
    if (filter?.from) add('a.created_at >= ?', filter.from);
    if (filter?.to) add('a.created_at < ?', filter.to);
    if (customerIds) add('a.customer_id = ANY(?)', customerIds);
    const from = 'FROM alert a LEFT JOIN customer c ON c.id = a.customer_id';
    // Only when the client selects it, with the filters as they are before the cursor's condition.
    const total = this.tx.countWhenSelected(`SELECT count(*)::int AS total ${from} WHERE ${where}`, [...params]);
    const orderField = orderBy?.field ?? AlertOrderField.CREATED_AT;
    const order = ALERT_ORDER[orderField];
    const dir = orderBy?.direction === SortDirection.ASC ? 'ASC' : 'DESC';
    const cursorOrder = `${orderField}:${dir}`;
    if (page.after) {
      // ALERT_ORDER's SQL types double as cursor kinds: each value is checked as the type it is cast to.
      const values = decodeCursor(page.after, [...order.keys.map((k) => k.type as 'timestamptz' | 'int'), 'uuid'], cursorOrder);
      const rhs = order.keys.map((k, i) => `$${params.push(values[i])}::${k.type}`);
      where += ` AND (${order.keys.map((k) => k.sql).join(', ')}, a.id) ${dir === 'ASC' ? '>' : '<'} (${rhs.join(', ')}, $${params.push(values[order.keys.length])}::uuid)`;
    }
    const orderSql = [...order.keys.map((k) => `${k.sql} ${dir}`), `a.id ${dir}`].join(', ');
    const rows = (await this.tx.manager().query(`SELECT a.*, c.account_manager_id ${from} WHERE ${where} ORDER BY ${orderSql} LIMIT $${params.push(limit + 1)}`, params)) as Row[];
    const nodes = rows.slice(0, limit).map(toAlertModel);
    const last = nodes[nodes.length - 1];
    return { nodes, totalCount: await total, pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? encodeCursor([...order.keys.map((k) => k.value(last)), last.id], cursorOrder) : null } };
  }

  /**
   * An alert's trail, oldest first; notes opened with the customer's key, or the alert's own for an alert
   * without a customer (the caller may read the alert).
   */
  async activity(alert: AlertModel): Promise<AlertActivityModel[]> {
    const rows = (await this.tx.manager().query(
      `SELECT id, kind, from_status, to_status, actor_id, assignee_id, note, created_at FROM alert_activity WHERE alert_id = $1 ORDER BY created_at, id`,
      [alert.id],
    )) as Array<{ id: string; kind: AlertActivityKind; from_status: AlertStatus | null; to_status: AlertStatus | null; actor_id: string | null; assignee_id: string | null; note: string | null; created_at: Date }>;
    const open = rows.some((r) => r.note) ? await this.noteOpener(alert) : () => null;
    return rows.map((r) => ({
      id: r.id, kind: r.kind, fromStatus: r.from_status, toStatus: r.to_status, actorId: r.actor_id, assigneeId: r.assignee_id, createdAt: r.created_at,
      customerId: alert.customerId ?? undefined,
      note: r.note ? open(r.id, r.note) : null,
    }));
  }

  /** A note on an alert in any state, encrypted under its customer's key (or the alert's own). */
  async addNote(id: string, note: string): Promise<AlertModel> {
    const text = typeof note === 'string' ? note.trim() : '';
    if (!text || text.length > 2000) throw BadUserInputError.field('note', 'must be 1 to 2000 characters');
    const alert = await this.get(id);
    return this.tx.run(async (manager) => {
      const activityId = randomUUID();
      const sealed = await this.sealNote(manager, alert, activityId, text);
      if (!sealed) throw new ConflictError('The customer is erased: no new notes');
      await manager.query(
        `INSERT INTO alert_activity (id, alert_id, kind, actor_id, from_status, to_status, note) VALUES ($1, $2, 'NOTE', $3, $4, $4, $5)`,
        [activityId, id, this.actorId(), alert.status, sealed],
      );
      await manager.query(`UPDATE alert SET updated_at = now() WHERE id = $1`, [id]);
      await this.audit.record({ action: 'alert.note', outcome: 'SUCCESS', resourceType: 'Alert', resourceId: id, customerId: alert.customerId, details: { activityId } });
      return this.get(id);
    });
  }

  async assign(id: string, assigneeId: string): Promise<AlertModel> {
    const alert = await this.get(id);
    if (!isUUID(assigneeId)) throw BadUserInputError.field('assigneeId', 'is not a valid id');
    const [assignee] = await this.users.findManyByIds([assigneeId]);
    if (!assignee || assignee.disabledAt || ![Role.ANALYST, Role.COMPLIANCE_OFFICER].includes(assignee.role)) {
      throw BadUserInputError.field('assigneeId', 'must be an active ANALYST or COMPLIANCE_OFFICER');
    }
    if (alert.status === AlertStatus.CLOSED) throw new InvalidTransitionError('Alert', 'CLOSED', 'assigned');
    return this.tx.run(async (manager) => {
      // Closed meanwhile (a transition that committed first): refused, as a closed alert is above.
      const [rows] = (await manager.query(`UPDATE alert SET assignee_id = $2, updated_at = now() WHERE id = $1 AND status <> 'CLOSED' RETURNING status`, [id, assigneeId])) as [Array<{ status: AlertStatus }>, number];
      if (!rows.length) throw new InvalidTransitionError('Alert', 'CLOSED', 'assigned');
      await manager.query(`INSERT INTO alert_activity (alert_id, kind, actor_id, from_status, to_status, assignee_id) VALUES ($1, 'ASSIGNED', $2, $3, $3, $4)`, [id, this.actorId(), rows[0].status, assigneeId]);
      await this.audit.record({ action: 'alert.assign', outcome: 'SUCCESS', resourceType: 'Alert', resourceId: id, customerId: alert.customerId, details: { assigneeId } });
      // The new assignee hears of it, unless they took the alert themselves or already had it.
      if (assigneeId !== this.actorId() && assigneeId !== alert.assigneeId) await this.notifyAbout(manager, alert, [assigneeId], 'ALERT_ASSIGNED', 'assigned to you');
      return this.get(id);
    });
  }

  async transition(id: string, input: TransitionAlertInput): Promise<AlertModel> {
    const alert = await this.get(id);
    const to = input.to as unknown as AlertStatus;
    if (!canTransition(alert.status, to)) throw new InvalidTransitionError('Alert', alert.status, to);
    if (to === AlertStatus.CLOSED && !input.disposition) throw BadUserInputError.field('disposition', 'is required to close an alert');
    if (input.to !== AlertTarget.CLOSED && input.disposition) throw BadUserInputError.field('disposition', 'is only given when closing');
    return this.tx.run(async (manager) => {
      // The customer before the alert, as screening locks them (customer, then its open alerts): the risk
      // recompute below locks the customer, and taking it after the alert could deadlock with a screening call.
      if (alert.customerId) await manager.query(`SELECT id FROM customer WHERE id = $1 FOR UPDATE`, [alert.customerId]);
      const [, count] = (await manager.query(
        `UPDATE alert SET status = $2, disposition = $3, closed_at = CASE WHEN $2 = 'CLOSED' THEN now() END, updated_at = now() WHERE id = $1 AND status = $4`,
        [id, to, input.disposition ?? null, alert.status],
      )) as [unknown, number];
      // Moved meanwhile by someone else: the error names the state it is in now, as a console shows it.
      if (count !== 1) throw new InvalidTransitionError('Alert', await this.currentStatus(manager, id), to);
      // Notes are free text about a customer: encrypted under that customer's key, never in the audit log.
      const activityId = randomUUID();
      const note = input.note ? await this.sealNote(manager, alert, activityId, input.note) : null;
      // A note that cannot be kept is refused, not dropped: the transition rolls back and may be sent without it.
      if (input.note && !note) throw new ConflictError('The customer is erased: a note can no longer be kept; transition without one', { field: 'note' });
      await manager.query(`INSERT INTO alert_activity (id, alert_id, kind, actor_id, from_status, to_status, note) VALUES ($1, $2, 'TRANSITION', $3, $4, $5, $6)`, [activityId, id, this.actorId(), alert.status, to, note]);
      await this.audit.record({ action: 'alert.transition', outcome: 'SUCCESS', resourceType: 'Alert', resourceId: id, customerId: alert.customerId, details: { from: alert.status, to, disposition: input.disposition ?? null } });
      // Escalation hands the alert up to compliance: every active compliance officer but the one escalating hears of it.
      if (to === AlertStatus.ESCALATED) {
        const officers = (await this.users.activeIdsWithRole(Role.COMPLIANCE_OFFICER)).filter((userId) => userId !== this.actorId());
        await this.notifyAbout(manager, alert, officers, 'ALERT_ESCALATED', 'escalated');
      }
      // risk: a closed alert leaves the open-alert factor; closed TRUE_POSITIVE it counts as confirmed.
      if (alert.customerId) await this.risk.recompute(manager, alert.customerId, 'alert.transition');
      return this.get(id);
    });
  }

  /**
   * Notices about an alert to `userIds`, in the caller's transaction (pushed and e-mailed once it commits).
   * The title names the rule (or the alert's kind) and the customer's externalRef, never PII.
   */
  private async notifyAbout(manager: EntityManager, alert: AlertModel, userIds: readonly string[], kind: string, what: string): Promise<void> {
    if (!userIds.length) return;
    const [about] = (await manager.query(
      `SELECT r.code, c.external_ref FROM alert a LEFT JOIN rule r ON r.id = a.rule_id LEFT JOIN customer c ON c.id = a.customer_id WHERE a.id = $1`,
      [alert.id],
    )) as Array<{ code: string | null; external_ref: string | null }>;
    const customer = about?.external_ref ? ` for customer ${about.external_ref}` : '';
    const title = `Alert ${about?.code ?? alert.kind} (${alert.severity})${customer} ${what}`;
    await this.notifications.notifyAll(manager, userIds.map((userId) => ({ userId, kind, title, customerId: alert.customerId, alertId: alert.id, eventId: alert.eventId })));
  }

  /** The alert's committed status, read after a conditional update found it changed. */
  private async currentStatus(manager: EntityManager, id: string): Promise<string> {
    const [row] = (await manager.query(`SELECT status FROM alert WHERE id = $1`, [id])) as Array<{ status: string }>;
    return row.status;
  }

  /** The note sealed for the alert_activity row `activityId`; `null` when the alert's customer is erased. */
  private async sealNote(manager: EntityManager, alert: AlertModel, activityId: string, note: string): Promise<string | null> {
    const aad = noteAad(activityId);
    if (alert.customerId) {
      const [customer] = await this.customers.snapshots([alert.customerId], []);
      return customer ? this.customers.sealForCustomer(customer, aad, note) : null;
    }
    return this.vault.encrypt(await this.ownKey(manager, alert.id), note, aad);
  }

  /**
   * The data key of an alert without a customer, made by its first note. The row lock makes concurrent first
   * notes agree on one key: the second waits, then finds the first one's.
   */
  private async ownKey(manager: EntityManager, alertId: string): Promise<Buffer> {
    const owner = dataKeyOwner.alert(alertId);
    const [row] = (await manager.query(`SELECT data_key FROM alert WHERE id = $1 FOR UPDATE`, [alertId])) as Array<{ data_key: string | null }>;
    if (row.data_key) return this.vault.openDataKey(row.data_key, owner);
    const { dek, wrapped } = this.vault.newDataKey(owner);
    await manager.query(`UPDATE alert SET data_key = $2 WHERE id = $1`, [alertId, wrapped]);
    return dek;
  }

  /** Opens the alert's notes: with its customer's key (null once erased) or with the alert's own. */
  private async noteOpener(alert: AlertModel): Promise<(activityId: string, sealed: string) => string | null> {
    if (alert.customerId) {
      const [customer] = await this.customers.snapshots([alert.customerId], []);
      return (activityId, sealed) => (customer ? this.customers.openForCustomer(customer, noteAad(activityId), sealed) : null);
    }
    const [row] = (await this.tx.manager().query(`SELECT data_key FROM alert WHERE id = $1`, [alert.id])) as Array<{ data_key: string | null }>;
    const dek = row?.data_key ? this.vault.openDataKey(row.data_key, dataKeyOwner.alert(alert.id)) : null;
    return (activityId, sealed) => (dek ? this.vault.decrypt(dek, sealed, noteAad(activityId)) : null);
  }

  private actorId(): string | null {
    const p = this.principal();
    return p.kind === 'USER' ? p.userId : null;
  }
}

const SEVERITY_RANK = `CASE a.severity WHEN 'LOW' THEN 1 WHEN 'MEDIUM' THEN 2 WHEN 'HIGH' THEN 3 WHEN 'CRITICAL' THEN 4 END`;
const SEVERITY_VALUE: Record<Severity, number> = { LOW: 1, MEDIUM: 2, HIGH: 3, CRITICAL: 4 } as Record<Severity, number>;

/** Keyset sort keys per `AlertOrderField` (the id breaks ties): SQL, cursor type and the value read back. */
const ALERT_ORDER: Record<AlertOrderField, { keys: Array<{ sql: string; type: string; value: (a: AlertModel) => string | number }> }> = {
  CREATED_AT: { keys: [{ sql: 'a.created_at', type: 'timestamptz', value: (a) => a.createdAt.toISOString() }] },
  LAST_SEEN_AT: { keys: [{ sql: 'a.last_seen_at', type: 'timestamptz', value: (a) => a.lastSeenAt.toISOString() }] },
  SEVERITY: {
    keys: [
      { sql: SEVERITY_RANK, type: 'int', value: (a) => SEVERITY_VALUE[a.severity] },
      { sql: 'a.created_at', type: 'timestamptz', value: (a) => a.createdAt.toISOString() },
    ],
  },
};

const noteAad = (activityId: string) => ({ table: 'alert_activity', column: 'note', rowId: activityId });
