import { Inject, Injectable } from '@nestjs/common';
import { subject } from '@casl/ability';
import type { EntityManager } from 'typeorm';
import { AUDIT_SINK, type AuditSink } from '../../common/audit/audit-sink';
import { runCustomerErasureSteps, SYSTEM_EVENT_SINK, type SystemEventSink } from '../../common/audit/system-event-sink';
import { normalisePhone } from '../../common/crypto/blind-index';
import { Role, type Principal } from '../../common/context/principal';
import { BadUserInputError, ConflictError, ForbiddenError, NotFoundError, StepUpRequiredError } from '../../common/errors/app-error';
import { TransactionService } from '../../database/transaction.service';
import { UsersService } from '../identity/users/users.service';
import { CustomerPii, type PiiValues } from './customer-pii';
import { CustomersService } from './customers.service';
import type { CreateCustomerInput, RecordConsentInput, UpdateCustomerInput } from './dto/customer.inputs';
import { CUSTOMER_PII_FIELDS, CustomerEntity, type CustomerPiiField } from './entities/customer.entity';
import type { ConsentModel, CustomerModel } from './models/customer.model';
import { isClosedCustomer } from './customer-status';

/** Fields that, after creation, only a COMPLIANCE_OFFICER changes (SPEC §8 write rules). */
const COMPLIANCE_ONLY_AFTER_CREATE = ['transactionLimit', 'dailyLimit', 'accountManagerId'] as const;

/**
 * The write rules that depend only on who asks (SPEC §8 "Write rules"): after creation only a
 * COMPLIANCE_OFFICER changes limits and `accountManagerId`; an account manager creates only customers they
 * manage. The resolver's guard applies them before the input is validated (`@ArgumentPolicy`); the
 * service applies them again for any other caller.
 */
export function customerWriteRefusal(principal: Principal, operation: 'create' | 'update', input: Record<string, unknown> | undefined): ForbiddenError | undefined {
  if (!input) return undefined;
  if (operation === 'create') {
    const managerId = input.accountManagerId;
    if (principal.kind === 'USER' && principal.role === Role.ACCOUNT_MANAGER && managerId !== undefined && managerId !== null && managerId !== principal.userId) {
      return new ForbiddenError('An account manager can only create customers they manage', { field: 'accountManagerId' });
    }
    return undefined;
  }
  // An explicit null is a change too (it clears the limit or the account manager): refused like a value.
  const restricted = COMPLIANCE_ONLY_AFTER_CREATE.filter((f) => input[f] !== undefined);
  if (restricted.length && !(principal.kind === 'USER' && principal.role === Role.COMPLIANCE_OFFICER)) {
    return new ForbiddenError(`Only a COMPLIANCE_OFFICER may change ${restricted.join(', ')}`, { field: restricted[0], fields: restricted });
  }
  return undefined;
}

/** A decimal in one spelling: no leading zeros, no trailing fraction zeros ("2500.50" and "2500.5", "0.00" and "0"). */
function canonicalDecimal(value: string): string {
  const [whole, fraction = ''] = value.trim().split('.');
  const digits = fraction.replace(/0+$/, '');
  return `${whole.replace(/^0+(?=\d)/, '')}${digits ? `.${digits}` : ''}`;
}

/**
 * Whether a limit as sent equals the stored one: compared exactly as decimals, never through a float (two
 * amounts above 2^53 are not equal just because their doubles are), and "no limit" (null) is not 0 — the
 * rules treat them differently.
 */
function sameLimit(sent: string | null, stored: string | null): boolean {
  if (sent === null || stored === null) return sent === stored;
  return canonicalDecimal(sent) === canonicalDecimal(stored);
}

/** Normalised PII as stored (phone in E.164, e-mail trimmed) so lookups and comparisons agree. */
function normalisedPii(input: Partial<Record<CustomerPiiField, string | undefined>>): PiiValues {
  const out: PiiValues = {};
  for (const field of CUSTOMER_PII_FIELDS) {
    const value = input[field];
    if (value === undefined) continue;
    out[field] = value === null ? null : field === 'phone' ? normalisePhone(value) : value.trim();
  }
  return out;
}

/** Creating, changing and erasing customers, and recording consent. Every write is audited in its transaction. */
@Injectable()
export class CustomerRecordsService {
  constructor(
    private readonly tx: TransactionService,
    private readonly pii: CustomerPii,
    private readonly customers: CustomersService,
    private readonly users: UsersService,
    @Inject(SYSTEM_EVENT_SINK) private readonly systemEvents: SystemEventSink,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  async create(input: CreateCustomerInput): Promise<CustomerModel> {
    const principal = this.customers.principal();
    const ability = this.customers.ability();
    let accountManagerId = input.accountManagerId ?? null;
    const refusal = customerWriteRefusal(principal, 'create', input as unknown as Record<string, unknown>);
    if (refusal) throw refusal;
    // An account manager who creates a customer becomes its account manager.
    if (principal.kind === 'USER' && principal.role === Role.ACCOUNT_MANAGER) accountManagerId = principal.userId;
    const onboardedByPartnerId = principal.kind === 'PARTNER' ? principal.partnerId : null;
    if (!ability.can('create', subject('Customer', { accountManagerId, onboardedByPartnerId }) as never)) {
      throw new ForbiddenError('Not allowed to create this customer');
    }
    const values = normalisedPii(input);
    return this.tx.run(async (manager) => {
      if (accountManagerId) await this.assertAccountManager(accountManagerId);
      if (await manager.existsBy(CustomerEntity, { externalRef: input.externalRef })) {
        throw new ConflictError('A customer with this externalRef already exists', { field: 'externalRef' });
      }
      const [{ id }] = (await manager.query('SELECT gen_random_uuid() AS id')) as Array<{ id: string }>;
      const { dek, wrapped } = this.pii.newDataKey(id);
      const encrypted = Object.fromEntries(CUSTOMER_PII_FIELDS.map((f) => [f, this.pii.encrypt(dek, id, f, values[f])]));
      await manager.insert(CustomerEntity, {
        id,
        externalRef: input.externalRef,
        lifecycleStage: input.lifecycleStage ?? 'ONBOARDING',
        dataKey: wrapped,
        ...encrypted,
        ...this.pii.blindIndexes(values),
        accountManagerId,
        onboardedByPartnerId,
        createdByUserId: principal.kind === 'USER' ? principal.userId : null,
        transactionLimit: input.transactionLimit ?? null,
        dailyLimit: input.dailyLimit ?? null,
      });
      await this.systemEvents.customerCreated(id);
      await this.audit.record({
        action: 'customer.create',
        outcome: 'SUCCESS',
        resourceType: 'Customer',
        resourceId: id,
        customerId: id,
        fields: Object.keys(input).filter((k) => (input as unknown as Record<string, unknown>)[k] !== undefined).sort(),
      });
      return this.pii.toModel(await manager.findOneByOrFail(CustomerEntity, { id }));
    });
  }

  async update(id: string, input: UpdateCustomerInput): Promise<CustomerModel> {
    const principal = this.customers.principal();
    const row = await this.customers.findEntity(id);
    if (!this.customers.ability().can('update', subject('Customer', { ...row }) as never)) throw new ForbiddenError('Not allowed to update this customer');
    const refusal = customerWriteRefusal(principal, 'update', input as unknown as Record<string, unknown>);
    if (refusal) throw refusal;
    if (isClosedCustomer(row.status)) throw new ConflictError(`The customer is ${row.status}: no further changes`);

    return this.tx.run(async (manager) => {
      const locked = await this.lockForWrite(manager, id, (r) => this.customers.ability().can('update', subject('Customer', { ...r }) as never));
      const current = this.pii.decryptAll(locked);
      const next = normalisedPii(input);
      const dek = this.pii.dataKey(locked)!;
      const changes: Partial<CustomerEntity> = {};
      const changed: string[] = [];
      for (const field of CUSTOMER_PII_FIELDS) {
        if (next[field] === undefined || next[field] === current[field]) continue;
        (changes as Record<string, unknown>)[field] = this.pii.encrypt(dek, id, field, next[field]);
        changed.push(field);
      }
      Object.assign(changes, this.pii.blindIndexes(Object.fromEntries(changed.map((f) => [f, next[f as CustomerPiiField]]))));
      if (input.externalRef && input.externalRef !== locked.externalRef) {
        if (await manager.existsBy(CustomerEntity, { externalRef: input.externalRef })) throw new ConflictError('A customer with this externalRef already exists', { field: 'externalRef' });
        changes.externalRef = input.externalRef;
        changed.push('externalRef');
      }
      if (input.lifecycleStage && input.lifecycleStage !== locked.lifecycleStage) {
        changes.lifecycleStage = input.lifecycleStage;
        changed.push('lifecycleStage');
      }
      // Limits and the account manager: left out, kept; null, cleared (no limit, no account manager).
      const managerId = typeof input.accountManagerId === 'string' ? input.accountManagerId.toLowerCase() : input.accountManagerId;
      if (managerId !== undefined && managerId !== locked.accountManagerId) {
        if (managerId !== null) await this.assertAccountManager(managerId);
        changes.accountManagerId = managerId;
        changed.push('accountManagerId');
      }
      for (const limit of ['transactionLimit', 'dailyLimit'] as const) {
        const sent = input[limit];
        if (sent === undefined || sameLimit(sent, locked[limit])) continue;
        changes[limit] = sent;
        changed.push(limit);
      }
      if (changed.length) {
        await manager.update(CustomerEntity, { id }, changes);
        // Monitoring screens every profile change (FREQUENT_PROFILE_CHANGES); its decision never blocks this update.
        await this.systemEvents.record({ customerId: id, type: 'PROFILE_CHANGE', attributes: { fields: changed } });
        await manager.query(
          `INSERT INTO customer_profile_change (customer_id, fields, actor_type, actor_id) VALUES ($1, $2, $3, $4)`,
          [id, changed, principal.kind, principal.kind === 'USER' ? principal.userId : principal.partnerId],
        );
      }
      await this.audit.record({ action: 'customer.update', outcome: 'SUCCESS', resourceType: 'Customer', resourceId: id, customerId: id, fields: changed });
      return this.pii.toModel(await manager.findOneByOrFail(CustomerEntity, { id }));
    });
  }

  /**
   * Crypto-shredding: the data key and every ciphertext and blind index go; non-PII history (events,
   * alerts, audit) stays. Needs a COMPLIANCE_OFFICER with a fresh step-up.
   */
  async erase(id: string, reason: string): Promise<CustomerModel> {
    const principal = this.customers.principal();
    // Authorization before validation (SPEC §8): without a fresh step-up, the reason is not looked at.
    if (principal.kind !== 'USER' || !principal.stepUpUntil || principal.stepUpUntil.getTime() <= Date.now()) throw new StepUpRequiredError('Erasure needs a recent step-up (stepUp mutation)');
    const trimmed = typeof reason === 'string' ? reason.trim() : '';
    if (!trimmed || trimmed.length > 500) throw BadUserInputError.field('reason', 'must be 1–500 characters');
    // The reason is a compliance record kept in the (PII-free) audit log after the key is gone: it must name
    // the legal ground or ticket, never the person. Anything shaped like an e-mail or a phone/id number is refused.
    // Dates (of the request, say) are not personal data: they are set aside before looking for numbers.
    const undated = trimmed.replace(/\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\b|\b\d{1,2}[./]\d{1,2}[./]\d{4}\b/g, ' ');
    if (/[^\s@]+@[^\s@]+\.[^\s@]+/.test(trimmed) || /\d(?:[\s().\/-]*\d){6,}/.test(undated)) {
      throw BadUserInputError.field('reason', 'must not contain personal data (e-mail addresses, phone or id numbers): name the legal ground or ticket');
    }
    const row = await this.customers.findEntity(id);
    if (row.status === 'ERASED') throw new ConflictError('The customer is already erased');
    return this.tx.run(async (manager) => {
      // Other modules' records first (complaints closes the customer's open ones): they lock their rows
      // before the customer's, the order their own writes take.
      await runCustomerErasureSteps(this.systemEvents, manager, id);
      // Only from the status read above: a concurrent erasure (or status change) that committed first leaves
      // no row here, so this one is refused instead of erasing twice with a stale previous status.
      const [, erased] = (await manager.query(
        `UPDATE customer SET status = 'ERASED', data_key = NULL, full_name = NULL, email = NULL, phone = NULL, national_id = NULL,
                date_of_birth = NULL, address = NULL, email_bidx = NULL, phone_bidx = NULL, national_id_bidx = NULL,
                erased_at = now(), updated_at = now()
          WHERE id = $1 AND status = $2`,
        [id, row.status],
      )) as [unknown, number];
      if (erased !== 1) throw new ConflictError('The customer changed meanwhile (erased or its status changed); reload it');
      // For good: a request that read the row before this commits may still open the key, but not cache it.
      this.pii.forget(row);
      await this.systemEvents.customerStatusChanged({ customerId: id, externalRef: row.externalRef, onboardedByPartnerId: row.onboardedByPartnerId ?? null, from: row.status, to: 'ERASED' });
      await this.audit.record({ action: 'customer.erase', outcome: 'SUCCESS', resourceType: 'Customer', resourceId: id, customerId: id, details: { reason: trimmed, previousStatus: row.status } });
      return this.pii.toModel(await manager.findOneByOrFail(CustomerEntity, { id }));
    });
  }

  async recordConsent(input: RecordConsentInput): Promise<ConsentModel> {
    const principal = this.customers.principal();
    const row = await this.customers.findEntity(input.customerId, 'customerId');
    if (!this.customers.ability().can('create', subject('Consent', { ...row }) as never)) throw new ForbiddenError('Not allowed to record consent for this customer');
    if (isClosedCustomer(row.status)) throw new ConflictError(`The customer is ${row.status}: no further changes`);
    return this.tx.run(async (manager) => {
      await this.lockForWrite(manager, row.id, (r) => this.customers.ability().can('create', subject('Consent', { ...r }) as never));
      const [consent] = (await manager.query(
        `INSERT INTO customer_consent (customer_id, purpose, granted, actor_type, actor_id) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, customer_id, purpose, granted, recorded_at`,
        [row.id, input.purpose, input.granted, principal.kind, principal.kind === 'USER' ? principal.userId : principal.partnerId],
      )) as Array<{ id: string; customer_id: string; purpose: string; granted: boolean; recorded_at: Date }>;
      await this.audit.record({ action: 'customer.consent', outcome: 'SUCCESS', resourceType: 'Consent', resourceId: consent.id, customerId: row.id, details: { purpose: input.purpose, granted: input.granted } });
      return { id: consent.id, customerId: consent.customer_id, purpose: consent.purpose, granted: consent.granted, recordedAt: consent.recorded_at };
    });
  }

  /**
   * The customer row locked for a write (FOR UPDATE: the customer first, the order ingest takes) and checked
   * again. The checks before the transaction read it unlocked; meanwhile an account manager's customer may
   * have been reassigned — out of scope now, so NOT_FOUND as that check would say — or the customer erased
   * or terminated (CONFLICT). `allowed`: the principal's ability on the locked row.
   */
  private async lockForWrite(manager: EntityManager, id: string, allowed: (row: CustomerEntity) => boolean): Promise<CustomerEntity> {
    const locked = await manager.findOne(CustomerEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
    if (!locked || !allowed(locked)) throw new NotFoundError('Customer');
    if (isClosedCustomer(locked.status)) throw new ConflictError(`The customer is ${locked.status}: no further changes`);
    return locked;
  }

  private async assertAccountManager(userId: string): Promise<void> {
    const user = await this.users.forAssignment(userId);
    if (!user || user.role !== Role.ACCOUNT_MANAGER || user.disabledAt) {
      throw BadUserInputError.field('accountManagerId', 'must be an active ACCOUNT_MANAGER');
    }
  }
}
