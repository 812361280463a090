import { Inject, Injectable, Logger } from '@nestjs/common';
import { subject } from '@casl/ability';
import { randomInt, randomUUID } from 'node:crypto';
import { AUDIT_SINK, type AuditSink } from '../../common/audit/audit-sink';
import { constantTimeEqualHex, keyedDigest } from '../../common/crypto/digest';
import { AppError, BadUserInputError, ConflictError, ForbiddenError, RateLimitedError } from '../../common/errors/app-error';
import { ErrorCode } from '../../common/errors/error-codes';
import { NotifyTransport } from '../../common/notify/notify-transport';
import { RateLimiter } from '../../common/rate-limit/rate-limiter.service';
import { configuredBucket, RATE_LIMITS } from '../../common/rate-limit/rate-limits';
import type { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { CommitThenThrow, TransactionService } from '../../database/transaction.service';
import { CustomerIdentityService } from '../customers/customer-identity.service';
import { CustomersService } from '../customers/customers.service';
import type { CompleteCustomerVerificationInput, StartCustomerVerificationInput } from './dto/verification.inputs';
import { OtpMethod, VerificationMethod, VerificationStatus } from './models/verification.enums';
import type { VerificationChallengeModel, VerificationModel } from './models/verification.model';
import { VerificationClock } from './verification.clock';
import { VerificationOutcomes } from './verification-outcomes.service';
import { OTP_METHODS, VerificationReader, type VerificationRow } from './verification-reader.service';
import { isClosedCustomer } from '../customers/customer-status';
import { OTP_SETTINGS } from './verification.settings';

/** The digest stored for a challenge: bound to its id, so a digest copied to another row never verifies. */
export function otpDigest(key: Buffer, verificationId: string, code: string): string {
  return keyedDigest(key, 'customer-otp', `${verificationId}:${code}`);
}

/** Six digits from a CSPRNG, leading zeros kept. */
export function newOtpCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

/**
 * One-time codes to a customer's stored phone or e-mail. Start: rate-limited per customer, supersedes the
 * customer's live challenge, keeps only the code's keyed digest, sends the code after commit. Complete:
 * one attempt per call under a row lock, compared in constant time; every attempt is an event and an
 * audit entry in its own transaction.
 */
@Injectable()
export class OtpVerificationService {
  private readonly logger = new Logger('Verification');

  constructor(
    private readonly tx: TransactionService,
    private readonly reader: VerificationReader,
    private readonly customers: CustomersService,
    private readonly identity: CustomerIdentityService,
    private readonly outcomes: VerificationOutcomes,
    private readonly limiter: RateLimiter,
    private readonly notify: NotifyTransport,
    private readonly clock: VerificationClock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  async start(input: StartCustomerVerificationInput): Promise<VerificationChallengeModel> {
    const principal = this.reader.principal();
    // Row scope first: a customer outside it is NOT_FOUND, whatever else is wrong.
    const customer = await this.customers.findEntity(input.customerId, 'customerId');
    if (!this.reader.ability().can('create', subject('Verification', { accountManagerId: customer.accountManagerId, onboardedByPartnerId: customer.onboardedByPartnerId }) as never)) {
      throw new ForbiddenError('Not allowed to verify this customer');
    }
    if (isClosedCustomer(customer.status)) throw new ConflictError(`The customer is ${customer.status}: no verification`);
    const field = input.method === OtpMethod.SMS_OTP ? 'phone' : 'email';
    const to = this.identity.contact(customer, field);
    if (!to) {
      throw new BadUserInputError(`The customer has no ${field} on record to send a code to`, [{ path: 'method', message: `customer.${field} is empty` }], { field });
    }
    const quota = await this.limiter.consumeOrThrow(
      configuredBucket(RATE_LIMITS.customerOtpResend, this.config.rateLimits.customerOtpResend),
      customer.id, 1, (s) => new RateLimitedError(s, 'Too many codes sent to this customer; try again later'),
    );

    const id = randomUUID();
    const code = newOtpCode();
    const expiresAt = new Date(this.clock.now().getTime() + OTP_SETTINGS.ttlMs);
    const supersededIds = await this.tx.run(async (manager) => {
      await this.outcomes.lockCustomer(manager, customer.id);
      const superseded = (await manager.query(
        `UPDATE customer_verification SET status = 'SUPERSEDED', completed_at = clock_timestamp(), updated_at = now()
          WHERE customer_id = $1 AND status = 'PENDING' AND method IN ('SMS_OTP', 'EMAIL_OTP') RETURNING id`,
        [customer.id],
      )) as [Array<{ id: string }>, number];
      await manager.query(
        `INSERT INTO customer_verification (id, customer_id, method, status, code_digest, max_attempts, expires_at, actor_type, created_by_user_id, created_by_partner_id)
         VALUES ($1, $2, $3, 'PENDING', $4, $5, $6, $7, $8, $9)`,
        [id, customer.id, input.method, otpDigest(this.config.keys.token, id, code), OTP_SETTINGS.maxAttempts, expiresAt.toISOString(),
          principal.kind, principal.kind === 'USER' ? principal.userId : null, principal.kind === 'PARTNER' ? principal.partnerId : null],
      );
      // Starting is not an attempt: audited, but no VERIFICATION event.
      await this.audit.record({
        action: 'verification.start', outcome: 'SUCCESS', resourceType: 'Verification', resourceId: id, customerId: customer.id,
        details: { method: input.method, expiresAt: expiresAt.toISOString(), superseded: superseded[0]?.map((r) => r.id) ?? [] },
      });
      return superseded[0]?.map((r) => r.id) ?? [];
    });
    // Delivery after commit: a rollback never leaves a code in someone's inbox that cannot be used.
    try {
      await this.notify.send({
        channel: input.method === OtpMethod.SMS_OTP ? 'SMS' : 'EMAIL',
        to,
        subject: 'Your verification code',
        body: `Your verification code is ${code}. It expires in ${OTP_SETTINGS.ttlMs / 60_000} minutes. Never share it.`,
        sensitive: true,
        reference: id,
      });
    } catch (error) {
      this.logger.warn({ msg: 'verification code not delivered', verificationId: id, transport: this.notify.kind, error: (error as Error).message });
      await this.undelivered(customer.id, id, input.method, supersededIds).catch((undo: unknown) => {
        // The new challenge then simply runs out in five minutes; the caller's answer is the same.
        this.logger.error({ msg: 'undelivered challenge not withdrawn', verificationId: id, error: (undo as Error).message });
      });
      throw new AppError(ErrorCode.INTERNAL_SERVER_ERROR, 'The code could not be delivered; start the verification again');
    }
    return { verificationId: id, customerId: customer.id, method: input.method as unknown as VerificationMethod, expiresAt, attemptsLeft: OTP_SETTINGS.maxAttempts, resendsLeft: quota.remaining };
  }

  /**
   * A code that never left: its challenge is withdrawn (EXPIRED now, so no one completes it) and the
   * challenges it superseded get their place back while they are still live, so a transport failure does
   * not take away the code the customer already holds. Nothing changes if a later start came in meanwhile:
   * that one superseded this challenge and owns the customer's live code. The start's quota unit stays
   * spent: a failed send may still have reached the customer's phone.
   */
  private async undelivered(customerId: string, id: string, method: string, supersededIds: readonly string[]): Promise<void> {
    await this.tx.run(async (manager) => {
      await this.outcomes.lockCustomer(manager, customerId);
      const now = this.clock.now().toISOString(); // the clock expiry is judged by on completion
      const [withdrawn] = (await manager.query(
        `UPDATE customer_verification SET status = 'EXPIRED', expires_at = least(expires_at, $2::timestamptz), completed_at = clock_timestamp(), updated_at = now()
          WHERE id = $1 AND status = 'PENDING' RETURNING id`,
        [id, now],
      )) as [Array<{ id: string }>, number];
      let restored: string[] = [];
      if (withdrawn.length && supersededIds.length) {
        const [rows] = (await manager.query(
          `UPDATE customer_verification SET status = 'PENDING', completed_at = NULL, updated_at = now()
            WHERE id = ANY($1::uuid[]) AND status = 'SUPERSEDED' AND expires_at > $2::timestamptz AND attempts < max_attempts RETURNING id`,
          [supersededIds, now],
        )) as [Array<{ id: string }>, number];
        restored = rows.map((r) => r.id);
      }
      await this.audit.record({
        action: 'verification.start', outcome: 'ERROR', resourceType: 'Verification', resourceId: id, customerId,
        details: { method, answer: 'NOT_DELIVERED', withdrawn: withdrawn.length > 0, restored },
      });
    });
  }

  async complete(input: CompleteCustomerVerificationInput): Promise<VerificationModel> {
    const principal = this.reader.principal();
    const found = await this.reader.find(input.verificationId, 'verificationId');
    if (!this.reader.ability().can('create', subject('Verification', { accountManagerId: found.account_manager_id, onboardedByPartnerId: found.onboarded_by_partner_id }) as never)) {
      throw new ForbiddenError('Not allowed to verify this customer');
    }
    // Code checks record their own outcomes (the failed-mutation audit leaves them alone), so the two refusals
    // before the attempt is looked at are recorded here.
    const refuse = async (outcome: 'DENIED' | 'ERROR', answer: string, error: Error): Promise<never> => {
      await this.audit.record({ action: 'verification.complete', outcome, resourceType: 'Verification', resourceId: found.id, customerId: found.customer_id, details: { answer, method: found.method, customerStatus: found.customer_status } });
      throw error;
    };
    if (!OTP_METHODS.has(found.method)) return refuse('ERROR', 'NOT_A_CODE_CHALLENGE', BadUserInputError.field('verificationId', 'is not a one-time-code challenge'));
    if (isClosedCustomer(found.customer_status)) return refuse('DENIED', 'CUSTOMER_CLOSED', new ConflictError(`The customer is ${found.customer_status}: no verification`));
    const code = input.code.trim();
    return this.tx.run(async (manager) => {
      // The customer first (a start supersedes challenges under the same lock), then the challenge itself.
      await this.outcomes.lockCustomer(manager, found.customer_id);
      // One attempt at a time per challenge: concurrent completions queue here and each sees the count before it.
      const [row] = (await manager.query(`SELECT * FROM customer_verification WHERE id = $1 FOR UPDATE`, [found.id])) as VerificationRow[];
      const base = { customerId: row.customer_id, verificationId: row.id, method: row.method, actor: principal };

      if (row.status === VerificationStatus.SUPERSEDED || row.status === VerificationStatus.PASSED) {
        // A dead challenge is refused without looking at the code; the attempt still counts for the rules.
        const reason = row.status === VerificationStatus.SUPERSEDED ? 'SUPERSEDED' : 'ALREADY_COMPLETED';
        await this.outcomes.settle(manager, { ...base, outcome: 'FAILURE', decisive: false, audit: { action: 'verification.complete', outcome: 'DENIED', details: { answer: reason } } });
        throw new CommitThenThrow(new ConflictError(
          reason === 'SUPERSEDED' ? 'This challenge was replaced by a newer code' : 'This challenge was already completed', { reason },
        ));
      }

      let answer: VerificationStatus;
      let attempts = row.attempts;
      let decisive = false;
      if (row.status === VerificationStatus.LOCKED) {
        answer = VerificationStatus.LOCKED;
      } else if (row.status === VerificationStatus.EXPIRED || new Date(row.expires_at!).getTime() <= this.clock.now().getTime()) {
        answer = VerificationStatus.EXPIRED;
        if (row.status !== VerificationStatus.EXPIRED) {
          await manager.query(`UPDATE customer_verification SET status = 'EXPIRED', completed_at = clock_timestamp(), updated_at = now() WHERE id = $1`, [row.id]);
        }
      } else {
        attempts += 1;
        const matches = constantTimeEqualHex(otpDigest(this.config.keys.token, row.id, code), row.code_digest ?? '');
        if (matches) {
          answer = VerificationStatus.PASSED;
          decisive = true;
          await manager.query(
            `UPDATE customer_verification SET status = 'PASSED', result = 'PASSED', attempts = $2, completed_at = clock_timestamp(), updated_at = now() WHERE id = $1`,
            [row.id, attempts],
          );
        } else if (attempts >= (row.max_attempts ?? OTP_SETTINGS.maxAttempts)) {
          // The last allowed attempt failed: the challenge is locked and counts as a failed check.
          answer = VerificationStatus.LOCKED;
          decisive = true;
          await manager.query(
            `UPDATE customer_verification SET status = 'LOCKED', result = 'FAILED', attempts = $2, completed_at = clock_timestamp(), updated_at = now() WHERE id = $1`,
            [row.id, attempts],
          );
        } else {
          answer = VerificationStatus.FAILED;
          await manager.query(`UPDATE customer_verification SET attempts = $2, updated_at = now() WHERE id = $1`, [row.id, attempts]);
        }
      }
      const passed = answer === VerificationStatus.PASSED;
      const attemptsLeft = Math.max(0, (row.max_attempts ?? OTP_SETTINGS.maxAttempts) - attempts);
      await this.outcomes.settle(manager, {
        ...base, outcome: passed ? 'SUCCESS' : 'FAILURE', decisive,
        audit: { action: 'verification.complete', outcome: passed ? 'SUCCESS' : 'DENIED', details: { answer, attempts, attemptsLeft } },
      });
      const [updated] = (await manager.query(`SELECT * FROM customer_verification WHERE id = $1`, [row.id])) as VerificationRow[];
      return { ...this.reader.toModel(updated, answer), attemptsLeft };
    });
  }
}
