import { Inject, Injectable } from '@nestjs/common';
import { subject } from '@casl/ability';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { ConflictError, ForbiddenError, NotFoundError } from '../../../common/errors/app-error';
import { TransactionService } from '../../../database/transaction.service';
import { CustomersService } from '../../customers/customers.service';
import type { CustomerModel } from '../../customers/models/customer.model';
import { EarlyWarningsService } from './early-warnings.service';
import type { RecordCreditAssessmentInput } from './risk.models';
import { RiskService } from './risk.service';
import { isClosedCustomer } from '../../customers/customer-status';


/**
 * `recordCreditAssessment`: the customer's credit score, level and limit (stored by the customers module),
 * a history row, an audit entry, the CREDIT_DETERIORATION check and the risk recompute — one transaction.
 */
@Injectable()
export class CreditAssessmentsService {
  constructor(
    private readonly tx: TransactionService,
    private readonly customers: CustomersService,
    private readonly risk: RiskService,
    private readonly warnings: EarlyWarningsService,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  async record(input: RecordCreditAssessmentInput): Promise<CustomerModel> {
    const principal = this.customers.principal();
    // Row scope first: a customer outside it is NOT_FOUND, exactly like customer(id).
    const row = await this.customers.findEntity(input.customerId, 'customerId');
    if (!this.customers.ability().can('create', subject('CreditAssessment', { ...row }) as never)) throw new ForbiddenError('Not allowed to record a credit assessment for this customer');
    if (isClosedCustomer(row.status)) throw new ConflictError(`The customer is ${row.status}: no further changes`);
    return this.tx.run(async (manager) => {
      const current = await this.customers.riskInputs(manager, row.id);
      if (!current) throw new NotFoundError('Customer');
      if (isClosedCustomer(current.status)) throw new ConflictError(`The customer is ${current.status}: no further changes`);
      await this.customers.recordCredit(manager, row.id, { score: input.score, level: input.level, limit: input.limit });
      const [entry] = (await manager.query(
        `INSERT INTO customer_credit_history (customer_id, score, level, credit_limit, previous_score, previous_level, source, actor_type, actor_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
        [row.id, input.score, input.level, input.limit, current.creditScore, current.creditLevel, input.source, principal.kind, principal.kind === 'USER' ? principal.userId : principal.partnerId],
      )) as Array<{ id: string }>;
      // Field names only: the credit values themselves are not for every reader of the audit log.
      await this.audit.record({
        action: 'customer.credit_assessment',
        outcome: 'SUCCESS',
        resourceType: 'CreditAssessment',
        resourceId: entry.id,
        customerId: row.id,
        fields: ['creditLevel', 'creditLimit', 'creditScore'],
      });
      await this.warnings.evaluateCreditAssessment(manager, row.id, { score: current.creditScore, level: current.creditLevel }, { score: input.score, level: input.level }, new Date());
      await this.risk.recompute(manager, row.id, 'credit.assessment');
      return this.customers.get(row.id);
    });
  }
}
