import { Inject, Injectable } from '@nestjs/common';
import { subject } from '@casl/ability';
import { isUUID } from 'class-validator';
import type { AppAbility } from '../../access/abilities';
import { AUDIT_SINK, type AuditSink } from '../../common/audit/audit-sink';
import { RequestContext } from '../../common/context/request-context';
import type { Principal } from '../../common/context/principal';
import { BadUserInputError, NotFoundError } from '../../common/errors/app-error';
import { TransactionService } from '../../database/transaction.service';
import { applyCustomerScope } from '../customers/customer-scope';
import { VerificationClock } from './verification.clock';
import { VerificationMethod, VerificationResult, VerificationStatus } from './models/verification.enums';
import type { VerificationModel } from './models/verification.model';

/** A `customer_verification` row with its customer's row-scope columns. `code_digest` never leaves the services. */
export interface VerificationRow {
  id: string;
  customer_id: string;
  method: VerificationMethod;
  status: VerificationStatus;
  result: VerificationResult | null;
  provider: string | null;
  score: string | null;
  reference: string | null;
  code_digest: string | null;
  attempts: number;
  max_attempts: number | null;
  expires_at: Date | null;
  completed_at: Date | null;
  created_at: Date;
  account_manager_id?: string | null;
  onboarded_by_partner_id?: string | null;
  customer_status?: string;
}

export const OTP_METHODS: ReadonlySet<string> = new Set([VerificationMethod.SMS_OTP, VerificationMethod.EMAIL_OTP]);

/** Reading verifications within the customers' row scope, and the API view of a row. */
@Injectable()
export class VerificationReader {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    private readonly clock: VerificationClock,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  principal(): Principal {
    return this.context.requirePrincipal();
  }

  ability(): AppAbility {
    return this.context.requireAbility<AppAbility>();
  }

  /**
   * The row if it exists and its customer is in the principal's row scope; absent and out-of-scope rows are
   * the same NOT_FOUND.
   */
  async find(id: string, path = 'id'): Promise<VerificationRow> {
    if (typeof id !== 'string' || !isUUID(id)) throw BadUserInputError.field(path, 'is not a valid id');
    const query = this.tx.manager().createQueryBuilder()
      .select(['v.*', 'c.account_manager_id AS account_manager_id', 'c.onboarded_by_partner_id AS onboarded_by_partner_id', 'c.status AS customer_status'])
      .from('customer_verification', 'v')
      .innerJoin('customer', 'c', 'c.id = v.customer_id')
      .where('v.id = :id', { id });
    applyCustomerScope(query, 'c', this.principal());
    const row = (await query.getRawOne()) as VerificationRow | undefined;
    if (row) return row;
    const customerId = await this.customerOf(id);
    if (customerId) {
      // Under the customer, so its access report and the audit log filtered by it show the attempt.
      await this.audit.record({ action: 'verification.read', outcome: 'DENIED', resourceType: 'Verification', resourceId: id, customerId, details: { reason: 'out_of_scope' } });
    }
    throw new NotFoundError('Verification');
  }

  /** `customerVerification(id)`: needs `read Verification` on the row (an account manager: own customers). */
  async get(id: string): Promise<VerificationModel> {
    const row = await this.find(id);
    if (!this.ability().can('read', subject('Verification', { accountManagerId: row.account_manager_id, onboardedByPartnerId: row.onboarded_by_partner_id }) as never)) {
      throw new NotFoundError('Verification');
    }
    return this.toModel(row);
  }

  /**
   * The API view. A PENDING challenge past its expiry reads as EXPIRED (the row is marked so on the next
   * completion attempt); `attemptsLeft` only for one-time codes.
   */
  toModel(row: VerificationRow, status?: VerificationStatus): VerificationModel {
    const otp = OTP_METHODS.has(row.method);
    let shown = status ?? row.status;
    if (!status && shown === VerificationStatus.PENDING && row.expires_at && new Date(row.expires_at).getTime() <= this.clock.now().getTime()) shown = VerificationStatus.EXPIRED;
    return {
      id: row.id,
      customerId: row.customer_id,
      method: row.method,
      status: shown,
      result: row.result,
      provider: row.provider,
      score: row.score === null ? null : Number(row.score),
      reference: row.reference,
      attemptsLeft: otp ? Math.max(0, (row.max_attempts ?? 0) - row.attempts) : null,
      expiresAt: row.expires_at ? new Date(row.expires_at) : null,
      completedAt: row.completed_at ? new Date(row.completed_at) : null,
      createdAt: new Date(row.created_at),
    };
  }

  /** The customer of a verification that exists, whoever may see it; null when there is none. */
  private async customerOf(id: string): Promise<string | null> {
    const [row] = (await this.tx.manager().query(`SELECT customer_id FROM customer_verification WHERE id = $1`, [id])) as Array<{ customer_id: string }>;
    return row?.customer_id ?? null;
  }
}
