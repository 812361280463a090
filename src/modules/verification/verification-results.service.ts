import { Injectable } from '@nestjs/common';
import { subject } from '@casl/ability';
import { randomUUID } from 'node:crypto';
import { ConflictError, ForbiddenError } from '../../common/errors/app-error';
import { TransactionService } from '../../database/transaction.service';
import { CustomersService } from '../customers/customers.service';
import type { RecordVerificationResultInput } from './dto/verification.inputs';
import { VerificationResult } from './models/verification.enums';
import type { VerificationModel } from './models/verification.model';
import { VerificationOutcomes } from './verification-outcomes.service';
import { VerificationReader, type VerificationRow } from './verification-reader.service';
import { isClosedCustomer } from '../customers/customer-status';

/**
 * `recordVerificationResult`: a document or biometric check run by an external provider, recorded by staff
 * with the right or by a partner (`verifications:write`) for customers it onboarded. The provider's
 * reference is kept, never the document; the whole record goes to the audit log with the event it raised.
 */
@Injectable()
export class VerificationResultsService {
  constructor(
    private readonly tx: TransactionService,
    private readonly reader: VerificationReader,
    private readonly customers: CustomersService,
    private readonly outcomes: VerificationOutcomes,
  ) {}

  async record(input: RecordVerificationResultInput): Promise<VerificationModel> {
    const principal = this.reader.principal();
    const customer = await this.customers.findEntity(input.customerId, 'customerId');
    if (!this.reader.ability().can('create', subject('Verification', { accountManagerId: customer.accountManagerId, onboardedByPartnerId: customer.onboardedByPartnerId }) as never)) {
      throw new ForbiddenError('Not allowed to verify this customer');
    }
    if (isClosedCustomer(customer.status)) throw new ConflictError(`The customer is ${customer.status}: no verification`);
    const id = randomUUID();
    return this.tx.run(async (manager) => {
      await this.outcomes.lockCustomer(manager, customer.id);
      const [row] = (await manager.query(
        `INSERT INTO customer_verification (id, customer_id, method, status, result, provider, score, reference, completed_at, actor_type, created_by_user_id, created_by_partner_id)
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7, clock_timestamp(), $8, $9, $10)
         RETURNING *`,
        [id, customer.id, input.method, input.result, input.provider, input.score ?? null, input.reference ?? null,
          principal.kind, principal.kind === 'USER' ? principal.userId : null, principal.kind === 'PARTNER' ? principal.partnerId : null],
      )) as VerificationRow[];
      // REVIEW is not a pass: for the rules it is a FAILURE (attributes.method and the audit entry say which).
      await this.outcomes.settle(manager, {
        customerId: customer.id, verificationId: id, method: row.method, actor: principal,
        outcome: input.result === VerificationResult.PASSED ? 'SUCCESS' : 'FAILURE',
        decisive: input.result !== VerificationResult.REVIEW,
        audit: {
          action: 'verification.record_result', outcome: 'SUCCESS',
          details: { provider: input.provider, result: input.result, score: input.score ?? null, reference: input.reference ?? null },
        },
      });
      return this.reader.toModel(row);
    });
  }
}
