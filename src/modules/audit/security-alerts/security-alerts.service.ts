import { Inject, Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { RequestContext } from '../../../common/context/request-context';
import { isStaff } from '../../../common/context/principal';
import { BadUserInputError, InvalidTransitionError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { paginate } from '../../../common/pagination/paginate';
import { TransactionService } from '../../../database/transaction.service';
import type { SecurityAlertsFilter } from '../dto/audit.inputs';
import { SecurityAlertEntity, type SecurityAlertKindValue, type SecurityAlertStatusValue } from '../entities/security-alert.entity';

export interface NewSecurityAlert {
  kind: SecurityAlertKindValue;
  /** Alerts with the same kind and key are "the same" for de-duplication. */
  dedupKey: string;
  /**
   * Not raised again while an OPEN alert of this kind and key is younger than `windowMs`; with
   * `anyStatus`, while any alert of this kind and key exists (a given chain break is reported once).
   */
  dedup: { windowMs: number } | { anyStatus: true };
  actorType?: string | null;
  actorId?: string | null;
  partnerId?: string | null;
  detail: Record<string, unknown>;
}

const TRANSITIONS: Record<'acknowledge' | 'close', { from: SecurityAlertStatusValue[]; to: SecurityAlertStatusValue }> = {
  acknowledge: { from: ['OPEN'], to: 'ACKNOWLEDGED' },
  close: { from: ['OPEN', 'ACKNOWLEDGED'], to: 'CLOSED' },
};

/** Two-int advisory locks live in a key space apart from the single-bigint ones the writer uses. */
const ALERT_LOCK_CLASS = 872_411;

/** Security alerts: raised by the detector and the chain verifier, read and worked by AUDITOR. */
@Injectable()
export class SecurityAlertsService {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  list(filter: SecurityAlertsFilter | undefined, page: PageArgs): Promise<ConnectionShape<SecurityAlertEntity>> {
    const query = this.tx.manager().createQueryBuilder(SecurityAlertEntity, 'a');
    if (filter?.kind) query.andWhere('a.kind = :kind', { kind: filter.kind });
    if (filter?.status) query.andWhere('a.status = :status', { status: filter.status });
    return paginate(query, page, {
      direction: 'DESC',
      keys: [
        { column: 'a.created_at', kind: 'timestamptz', value: (a) => a.createdAt.toISOString() },
        { column: 'a.id', kind: 'uuid', value: (a) => a.id },
      ],
    });
  }

  /**
   * Inserts the alert unless an equivalent one exists (see `dedup`). Safe with several instances: the check
   * and the insert run under an advisory lock on the alert's kind and key. Joins the caller's transaction.
   */
  async raise(alert: NewSecurityAlert): Promise<SecurityAlertEntity | null> {
    return this.tx.run(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [ALERT_LOCK_CLASS, `${alert.kind}:${alert.dedupKey}`]);
      if (await this.isDuplicate(alert)) return null;
      const [{ id }] = (await manager.query(
        `INSERT INTO security_alert (kind, dedup_key, actor_type, actor_id, partner_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
        [alert.kind, alert.dedupKey, alert.actorType ?? null, alert.actorId ?? null, alert.partnerId ?? null, JSON.stringify(alert.detail)],
      )) as Array<{ id: string }>;
      // The alert table is mutable (status); the audit log keeps a tamper-evident record that it was raised.
      await this.audit.record({
        action: 'security_alert.raise',
        outcome: 'SUCCESS',
        resourceType: 'SecurityAlert',
        resourceId: id,
        actor: { type: 'SYSTEM' },
        details: { kind: alert.kind, actorType: alert.actorType ?? null, actorId: alert.actorId ?? null, partnerId: alert.partnerId ?? null },
      });
      return manager.findOneByOrFail(SecurityAlertEntity, { id });
    });
  }

  /**
   * Whether `raise` would drop this alert as a duplicate now. A detector asks first and skips the work of
   * measuring a pattern (counting an actor's reads over an hour, say) that could only confirm an alert
   * already open; `raise` asks again under its lock. Joins the caller's transaction.
   */
  async isDuplicate(alert: Pick<NewSecurityAlert, 'kind' | 'dedupKey' | 'dedup'>): Promise<boolean> {
    const manager = this.tx.manager();
    const existing = 'anyStatus' in alert.dedup
      ? await manager.query('SELECT 1 FROM security_alert WHERE kind = $1 AND dedup_key = $2 LIMIT 1', [alert.kind, alert.dedupKey])
      : await manager.query(
          `SELECT 1 FROM security_alert WHERE kind = $1 AND dedup_key = $2 AND status = 'OPEN'
              AND created_at > now() - $3::int * interval '1 millisecond' LIMIT 1`,
          [alert.kind, alert.dedupKey, alert.dedup.windowMs],
        );
    return (existing as unknown[]).length > 0;
  }

  acknowledge(id: string): Promise<SecurityAlertEntity> {
    return this.transition(id, 'acknowledge');
  }

  close(id: string): Promise<SecurityAlertEntity> {
    return this.transition(id, 'close');
  }

  private async transition(id: string, verb: keyof typeof TRANSITIONS): Promise<SecurityAlertEntity> {
    if (!isUUID(id)) throw BadUserInputError.field('id', 'is not a valid id');
    const { from, to } = TRANSITIONS[verb];
    const principal = this.context.principal;
    return this.tx.run(async (manager) => {
      const alert = await manager
        .createQueryBuilder(SecurityAlertEntity, 'a')
        .setLock('pessimistic_write')
        .where('a.id = :id', { id })
        .getOne();
      if (!alert) throw new NotFoundError('Security alert');
      if (!from.includes(alert.status)) throw new InvalidTransitionError('Security alert', alert.status, to);
      await manager.query(`UPDATE security_alert SET status = $2, updated_at = now(), status_changed_by = $3 WHERE id = $1`, [
        id, to, isStaff(principal) ? principal.userId : null,
      ]);
      await this.audit.record({ action: `security_alert.${verb}`, outcome: 'SUCCESS', resourceType: 'SecurityAlert', resourceId: id, details: { kind: alert.kind, from: alert.status, to } });
      return manager.findOneByOrFail(SecurityAlertEntity, { id });
    });
  }
}
