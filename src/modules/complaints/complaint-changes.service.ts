import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { AUDIT_SINK, type AuditActorOverride, type AuditSink } from '../../common/audit/audit-sink';
import type { Principal } from '../../common/context/principal';
import { ConflictError } from '../../common/errors/app-error';
import { CustomersService, type CustomerSnapshot } from '../customers/customers.service';
import { RiskService } from '../monitoring/risk/risk.service';
import { WebhookOutbox } from '../monitoring/webhooks/webhook-outbox.service';
import { activityAad } from './complaint-reader.service';
import { ComplaintActorType, type ComplaintActivityKind, type ComplaintStatus } from './models/complaint.enums';

export interface ComplaintChange {
  complaint: { id: string; customer_id: string; status: ComplaintStatus; filed_by_partner_id: string | null };
  customer: Pick<CustomerSnapshot, 'id' | 'externalRef' | 'dataKey'>;
  kind: ComplaintActivityKind;
  /** The acting principal; absent for the SLA sweep (SYSTEM). */
  actor: Principal | null;
  from: ComplaintStatus | null;
  to: ComplaintStatus | null;
  /** Plain text to keep encrypted on the timeline entry (a note, a reopen reason, a resolution summary). */
  note?: string | null;
  /** Non-PII facts, shown on the timeline and repeated into the audit entry. */
  detail?: Record<string, unknown>;
  /** The audit action, e.g. `complaint.acknowledge`. */
  action: string;
  /** false: the caller rescores the customer once for several changes (an erasure closing them all). */
  rescore?: boolean;
}

const SYSTEM: AuditActorOverride = { type: 'SYSTEM' };

/**
 * The bookkeeping every complaint change shares, in the caller's transaction: the timeline entry (its note
 * encrypted under the customer's key), the audit entry (facts only, never the text), and — for a complaint
 * a partner filed — a `complaint.updated` webhook through the outbox; on a change of state, the customer's
 * risk score (complaints are one of its inputs, ComplaintRiskFactors).
 */
@Injectable()
export class ComplaintChanges {
  constructor(
    private readonly customers: CustomersService,
    private readonly webhooks: WebhookOutbox,
    private readonly risk: RiskService,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  /** Encrypts text tied to the customer; CONFLICT when the customer's key is gone (erased). */
  seal(customer: Pick<CustomerSnapshot, 'id' | 'dataKey'>, aad: { table: string; column: string; rowId: string }, text: string): string {
    const sealed = this.customers.sealForCustomer(customer, aad, text);
    if (sealed === null) throw new ConflictError('The customer is erased: no new text can be recorded for this complaint');
    return sealed;
  }

  async record(manager: EntityManager, c: ComplaintChange): Promise<string> {
    const activityId = randomUUID();
    const note = c.note ? this.seal(c.customer, activityAad(activityId), c.note) : null;
    const actorType = !c.actor ? ComplaintActorType.SYSTEM : c.actor.kind === 'USER' ? ComplaintActorType.USER : ComplaintActorType.PARTNER;
    const actorId = !c.actor ? null : c.actor.kind === 'USER' ? c.actor.userId : c.actor.partnerId;
    await manager.query(
      `INSERT INTO complaint_activity (id, complaint_id, kind, actor_type, actor_id, from_status, to_status, note, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)`,
      [activityId, c.complaint.id, c.kind, actorType, actorId, c.from, c.to, note, JSON.stringify(c.detail ?? {})],
    );
    await this.webhooks.publish(manager, c.complaint.filed_by_partner_id, 'complaint.updated', {
      complaintId: c.complaint.id,
      customerId: c.customer.id,
      customerExternalRef: c.customer.externalRef,
      change: c.kind,
      previousStatus: c.from,
      status: c.to ?? c.complaint.status,
      at: new Date().toISOString(),
    });
    await this.audit.record({
      action: c.action,
      outcome: 'SUCCESS',
      resourceType: 'Complaint',
      resourceId: c.complaint.id,
      customerId: c.complaint.customer_id,
      details: { from: c.from, to: c.to, ...(c.detail ?? {}) },
      ...(c.actor ? {} : { actor: SYSTEM }),
    });
    // risk: open complaints count toward the customer's score, so a new one and every change of state rescore it.
    if (c.to && c.to !== c.from && c.rescore !== false) await this.risk.recompute(manager, c.complaint.customer_id, c.action);
    return activityId;
  }
}
