import { Inject, Injectable } from '@nestjs/common';
import { subject } from '@casl/ability';
import { randomUUID } from 'node:crypto';
import type { AppAbility } from '../../access/abilities';
import { AUDIT_SINK, type AuditSink } from '../../common/audit/audit-sink';
import { SYSTEM_EVENT_SINK, type SystemEventSink } from '../../common/audit/system-event-sink';
import { BadUserInputError, ConflictError, ForbiddenError } from '../../common/errors/app-error';
import { TransactionService } from '../../database/transaction.service';
import { CustomersService } from '../customers/customers.service';
import { ComplaintChanges } from './complaint-changes.service';
import { complaintAad, ComplaintReader } from './complaint-reader.service';
import { ComplaintSpikes } from './complaint-spikes.service';
import { ComplaintSettings, FRAUD_REPORT } from './complaints.settings';
import type { FileComplaintInput } from './dto/complaint.inputs';
import { ComplaintActivityKind, ComplaintStatus } from './models/complaint.enums';
import type { ComplaintModel } from './models/complaint.model';
import { isClosedCustomer } from '../customers/customer-status';


/**
 * `fileComplaint`: staff (agents, compliance, an account manager for their own customers) and partners
 * (`complaints:write`, customers they onboarded). In one transaction: the complaint with its SLA deadlines
 * and encrypted description, the FILED timeline entry and audit entry, a COMPLAINT event for the rules
 * when it reports fraud, the spike check, and the filing partner's webhook.
 */
@Injectable()
export class ComplaintIntake {
  constructor(
    private readonly tx: TransactionService,
    private readonly reader: ComplaintReader,
    private readonly customers: CustomersService,
    private readonly changes: ComplaintChanges,
    private readonly spikes: ComplaintSpikes,
    private readonly settings: ComplaintSettings,
    @Inject(SYSTEM_EVENT_SINK) private readonly systemEvents: SystemEventSink,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  async file(input: FileComplaintInput): Promise<ComplaintModel> {
    const principal = this.reader.principal();
    // Row scope first: a customer outside it is NOT_FOUND, whatever else is wrong with the input.
    const customer = await this.customers.findEntity(input.customerId, 'customerId');
    if (!this.settings.isCategory(input.category)) {
      throw BadUserInputError.field('category', `must be one of ${this.settings.categories.join(', ')}`);
    }
    const ability = this.customers.ability() as AppAbility;
    if (!ability.can('file', subject('Complaint', { accountManagerId: customer.accountManagerId, onboardedByPartnerId: customer.onboardedByPartnerId }) as never)) {
      throw new ForbiddenError('Not allowed to file a complaint for this customer');
    }
    if (isClosedCustomer(customer.status)) throw new ConflictError(`The customer is ${customer.status}: no new complaints`);

    const id = randomUUID();
    const receivedAt = new Date();
    const { acknowledgeBy, resolveBy } = this.settings.deadlines(input.severity, receivedAt);
    const filedByPartnerId = principal.kind === 'PARTNER' ? principal.partnerId : null;
    return this.tx.run(async (manager) => {
      // Again under the customer's lock (the one risk scoring takes next, so no upgrade can deadlock): an
      // erasure or termination that committed since the check above must not get a complaint filed after it.
      const [locked] = (await manager.query(`SELECT status FROM customer WHERE id = $1 FOR UPDATE`, [customer.id])) as Array<{ status: string }>;
      if (isClosedCustomer(locked.status)) throw new ConflictError(`The customer is ${locked.status}: no new complaints`);
      const description = this.changes.seal(customer, complaintAad('description', id), input.description);
      await manager.query(
        `INSERT INTO complaint (id, customer_id, channel, category, severity, subject, description, filed_by_user_id, filed_by_partner_id, received_at, acknowledge_by, resolve_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [id, customer.id, input.channel, input.category, input.severity, input.subject, description,
          principal.kind === 'USER' ? principal.userId : null, filedByPartnerId, receivedAt.toISOString(), acknowledgeBy.toISOString(), resolveBy.toISOString()],
      );
      const complaint = { id, customer_id: customer.id, status: ComplaintStatus.RECEIVED, filed_by_partner_id: filedByPartnerId };
      const detail: Record<string, unknown> = { channel: input.channel, category: input.category, severity: input.severity };
      // Fraud reported by a customer is evidence for the rules: a SYSTEM COMPLAINT event, screened in this transaction.
      if (input.category === FRAUD_REPORT) {
        const event = await this.systemEvents.record({
          customerId: customer.id, type: 'COMPLAINT', occurredAt: receivedAt,
          attributes: { complaintId: id, category: input.category, channel: input.channel, severity: input.severity },
        });
        detail.eventId = event.eventId;
      }
      const spike = await this.spikes.check(manager, input.category, receivedAt);
      if (spike) {
        detail.systemicAlertId = spike.id;
        await this.audit.record({
          action: 'complaint.spike_detected', outcome: 'SUCCESS', resourceType: 'Alert', resourceId: spike.id,
          details: { category: input.category, complaintId: id }, actor: { type: 'SYSTEM' },
        });
      }
      await this.changes.record(manager, {
        complaint, customer, kind: ComplaintActivityKind.FILED, actor: principal, from: null, to: ComplaintStatus.RECEIVED, detail, action: 'complaint.file',
      });
      return this.reader.get(id);
    });
  }
}
