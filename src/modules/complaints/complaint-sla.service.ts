import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { Role } from '../../common/context/principal';
import { RecurringJobs } from '../../common/jobs/recurring-jobs.service';
import { TransactionService } from '../../database/transaction.service';
import { UsersService } from '../identity/users/users.service';
import { AlertsService } from '../monitoring/alerts/alerts.service';
import { AlertKind, type Severity } from '../monitoring/models/monitoring.enums';
import { NotificationsService } from '../monitoring/notifications/notifications.service';
import { ComplaintChanges } from './complaint-changes.service';
import { ComplaintSettings } from './complaints.settings';
import { ComplaintActivityKind, type ComplaintStatus } from './models/complaint.enums';

type Due = {
  id: string; customer_id: string; external_ref: string; severity: Severity; status: ComplaintStatus;
  assignee_id: string | null; filed_by_partner_id: string | null; acknowledge_by: Date; resolve_by: Date; ack_due: boolean; resolve_due: boolean;
};

const DUE_COLUMNS = 'k.id, k.customer_id, c.external_ref, k.severity, k.status, k.assignee_id, k.filed_by_partner_id, k.acknowledge_by, k.resolve_by';

export interface SweepResult {
  /** Complaints that missed at least one deadline in this sweep. */
  complaints: number;
  /** Deadlines reported (a complaint may miss both in one sweep). */
  breaches: number;
}

/**
 * The SLA clock (SPEC §5, §8: calendar hours from receivedAt). A sweep finds deadlines that passed without
 * the state they ask for — acknowledged by `acknowledgeBy`, resolved by `resolveBy` — and for each one, in
 * the complaint's transaction: flags the complaint `escalated`, records which deadline was missed (so a
 * second sweep reports nothing new), adds an ESCALATED timeline entry, raises an SLA_BREACH alert, and
 * notifies the assignee — every active COMPLIANCE_OFFICER when nobody is assigned. A deadline reached late
 * (acknowledged or resolved after it, between two sweeps) is escalated the same way by the late move itself
 * (`escalateLate`). Complaints of ERASED customers are not reported.
 *
 * It runs as a recurring job on the job queue (every minute, once for the whole deployment); a sweep called
 * on demand at the same time is harmless, since each claims its batch with FOR UPDATE SKIP LOCKED and no
 * complaint is reported twice. Tests call `sweep(now)` with their own clock.
 */
@Injectable()
export class ComplaintSlaJob implements OnModuleInit {
  constructor(
    private readonly tx: TransactionService,
    private readonly settings: ComplaintSettings,
    private readonly alerts: AlertsService,
    private readonly notifications: NotificationsService,
    private readonly users: UsersService,
    private readonly changes: ComplaintChanges,
    private readonly jobs: RecurringJobs,
  ) {}

  onModuleInit(): void {
    this.jobs.register('complaint-sla-sweep', () => this.sweep());
  }

  /** Reports every deadline passed by `now`, batch by batch; idempotent. */
  async sweep(now: Date = new Date()): Promise<SweepResult> {
    const total: SweepResult = { complaints: 0, breaches: 0 };
    for (;;) {
      const batch = await this.tx.run((manager) => this.sweepBatch(manager, now));
      total.complaints += batch.complaints;
      total.breaches += batch.breaches;
      if (batch.complaints < this.settings.sweep.batchSize) return total;
    }
  }

  /**
   * Records, in a transition's own transaction, the deadlines it reached too late — acknowledged after
   * `acknowledgeBy`, resolved after `resolveBy` — that no sweep reported while they were overdue (a move
   * between two sweeps, or during a job outage). Here rather than in the sweep: the sweep's partial indexes
   * hold only complaints still short of the state a deadline asks for; finding late moves from the sweep
   * would scan every acknowledged or resolved complaint each minute. The caller's update has locked the
   * row, so a sweep running now skips it, and one that claimed it first has stamped the breach already.
   */
  async escalateLate(manager: EntityManager, complaintId: string, now: Date): Promise<void> {
    const [row] = (await manager.query(
      `SELECT ${DUE_COLUMNS},
              (k.acknowledge_breached_at IS NULL AND k.acknowledged_at > k.acknowledge_by) AS ack_due,
              (k.resolve_breached_at IS NULL AND k.resolved_at > k.resolve_by) AS resolve_due
         FROM complaint k JOIN customer c ON c.id = k.customer_id
        WHERE k.id = $1`,
      [complaintId],
    )) as Due[];
    if (row && (row.ack_due || row.resolve_due)) await this.escalate(manager, row, now, () => this.users.activeIdsWithRole(Role.COMPLIANCE_OFFICER));
  }

  private async sweepBatch(manager: EntityManager, now: Date): Promise<SweepResult> {
    const at = now.toISOString();
    // An ERASED customer's complaints are closed by the erasure (ComplaintErasure); rows older than that rule
    // can never be resolved (their text key is gone), so they are not reported again and again.
    const due = (await manager.query(
      `SELECT ${DUE_COLUMNS},
              (k.status = 'RECEIVED' AND k.acknowledge_breached_at IS NULL AND k.acknowledge_by <= $1::timestamptz) AS ack_due,
              (k.status NOT IN ('RESOLVED','CLOSED') AND k.resolve_breached_at IS NULL AND k.resolve_by <= $1::timestamptz) AS resolve_due
         FROM complaint k JOIN customer c ON c.id = k.customer_id
        WHERE ((k.status = 'RECEIVED' AND k.acknowledge_breached_at IS NULL AND k.acknowledge_by <= $1::timestamptz)
           OR (k.status NOT IN ('RESOLVED','CLOSED') AND k.resolve_breached_at IS NULL AND k.resolve_by <= $1::timestamptz))
          AND c.status <> 'ERASED'
        ORDER BY least(k.acknowledge_by, k.resolve_by), k.id
        LIMIT $2
        FOR UPDATE OF k SKIP LOCKED`,
      [at, this.settings.sweep.batchSize],
    )) as Due[];
    if (!due.length) return { complaints: 0, breaches: 0 };
    // Each breach rescores its customer (risk.recompute locks the customer row). Ingest and the risk refresh
    // lock customers in id order; taking this batch's customers in deadline order instead could deadlock
    // with them. So all of them are locked now, in id order, before anything is raised.
    await manager.query(`SELECT id FROM customer WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, [[...new Set(due.map((r) => r.customer_id))]]);
    let breaches = 0;
    let officers: Promise<string[]> | undefined;
    for (const row of due) breaches += await this.escalate(manager, row, now, () => (officers ??= this.users.activeIdsWithRole(Role.COMPLIANCE_OFFICER)));
    return { complaints: due.length, breaches };
  }

  /**
   * One complaint's missed deadlines (`ack_due`, `resolve_due`): the flag and the breach stamps, then per
   * deadline an SLA_BREACH alert, the notifications and an ESCALATED timeline entry. Returns how many.
   */
  private async escalate(manager: EntityManager, row: Due, now: Date, officers: () => Promise<string[]>): Promise<number> {
    const at = now.toISOString();
    await manager.query(
      `UPDATE complaint SET escalated = true, escalated_at = coalesce(escalated_at, $2::timestamptz),
              acknowledge_breached_at = CASE WHEN $3::boolean THEN $2::timestamptz ELSE acknowledge_breached_at END,
              resolve_breached_at = CASE WHEN $4::boolean THEN $2::timestamptz ELSE resolve_breached_at END,
              updated_at = now()
        WHERE id = $1`,
      [row.id, at, row.ack_due, row.resolve_due],
    );
    const missed = [...(row.ack_due ? [{ deadline: 'ACKNOWLEDGE', by: row.acknowledge_by }] : []), ...(row.resolve_due ? [{ deadline: 'RESOLVE', by: row.resolve_by }] : [])];
    for (const m of missed) {
      const alert = await this.alerts.raiseUnruled(manager, { kind: AlertKind.SLA_BREACH, customerId: row.customer_id, severity: row.severity, occurredAt: now });
      const recipients = row.assignee_id ? [row.assignee_id] : await officers();
      for (const userId of recipients) {
        await this.notifications.notify(manager, {
          userId, kind: 'COMPLAINT_SLA_BREACH', customerId: row.customer_id, alertId: alert.id,
          title: `Complaint ${row.id} (${row.severity}) missed its ${m.deadline.toLowerCase()} deadline for customer ${row.external_ref}`,
        });
      }
      await this.changes.record(manager, {
        complaint: row, // No text to seal on an escalation, so no data key is needed.
        customer: { id: row.customer_id, externalRef: row.external_ref, dataKey: null },
        kind: ComplaintActivityKind.ESCALATED, actor: null, from: row.status, to: row.status, action: 'complaint.escalate',
        detail: { missed: m.deadline, deadline: new Date(m.by).toISOString(), alertId: alert.id, notified: recipients.length },
      });
    }
    return missed.length;
  }
}
