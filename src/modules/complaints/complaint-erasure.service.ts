import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { onCustomerErasure, SYSTEM_EVENT_SINK, type SystemEventSink } from '../../common/audit/system-event-sink';
import { RiskService } from '../monitoring/risk/risk.service';
import { ComplaintChanges } from './complaint-changes.service';
import { ComplaintActivityKind, ComplaintStatus } from './models/complaint.enums';

/**
 * Erasing a customer closes its complaints that are not CLOSED yet, in the erasure's transaction: once the
 * customer's key is gone no resolution or reopen reason can be recorded, so they would otherwise stay open
 * for ever — reported by the SLA sweep again and again and counted open in the statistics. Each gets a
 * CLOSED timeline entry with no actor (SYSTEM) and `{ reason: 'CUSTOMER_ERASED' }`, and its audit entry.
 */
@Injectable()
export class ComplaintErasure implements OnModuleInit {
  constructor(
    private readonly changes: ComplaintChanges,
    private readonly risk: RiskService,
    @Inject(SYSTEM_EVENT_SINK) private readonly systemEvents: SystemEventSink,
  ) {}

  onModuleInit(): void {
    onCustomerErasure(this.systemEvents, (manager, customerId) => this.closeAll(manager, customerId));
  }

  /** Runs before the customer row is erased. */
  async closeAll(manager: EntityManager, customerId: string): Promise<void> {
    // The complaints first, then the customer: the order the workflow and the SLA sweep lock them in. Under
    // the customer's lock, a complaint filed meanwhile has committed (and is closed below) or will find the
    // customer ERASED (the filing checks under that lock).
    await manager.query(`SELECT id FROM complaint WHERE customer_id = $1 AND status <> 'CLOSED' ORDER BY id FOR UPDATE`, [customerId]);
    const [customer] = (await manager.query(`SELECT external_ref FROM customer WHERE id = $1 FOR UPDATE`, [customerId])) as Array<{ external_ref: string }>;
    if (!customer) return;
    const open = (await manager.query(
      `SELECT id, status, filed_by_partner_id FROM complaint WHERE customer_id = $1 AND status <> 'CLOSED' ORDER BY id FOR UPDATE`,
      [customerId],
    )) as Array<{ id: string; status: ComplaintStatus; filed_by_partner_id: string | null }>;
    if (!open.length) return;
    await manager.query(`UPDATE complaint SET status = 'CLOSED', closed_at = now(), updated_at = now() WHERE id = ANY($1::uuid[])`, [open.map((k) => k.id)]);
    for (const k of open) {
      await this.changes.record(manager, {
        complaint: { id: k.id, customer_id: customerId, status: ComplaintStatus.CLOSED, filed_by_partner_id: k.filed_by_partner_id },
        customer: { id: customerId, externalRef: customer.external_ref, dataKey: null }, // no text to seal
        kind: ComplaintActivityKind.CLOSED, actor: null, from: k.status, to: ComplaintStatus.CLOSED, action: 'complaint.close',
        detail: { reason: 'CUSTOMER_ERASED' }, rescore: false,
      });
    }
    // One rescore for all of them (each closed complaint leaves the COMPLAINTS factor).
    await this.risk.recompute(manager, customerId, 'complaint.close');
  }
}
