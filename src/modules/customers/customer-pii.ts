import { Injectable } from '@nestjs/common';
import { dataKeyOwner } from '../../common/crypto/envelope';
import { PiiVault } from '../../common/crypto/pii-vault.service';
import { CUSTOMER_PII_FIELDS, PII_COLUMN, type CustomerEntity, type CustomerPiiField } from './entities/customer.entity';
import type { CustomerModel, RiskFactor } from './models/customer.model';

export type PiiValues = Partial<Record<CustomerPiiField, string | null>>;

/**
 * Encryption of a customer's PII under the customer's own data key, AAD-bound to (customer, column, id),
 * and the blind indexes that allow exact lookup without storing the values.
 */
@Injectable()
export class CustomerPii {
  constructor(private readonly vault: PiiVault) {}

  newDataKey(customerId: string): { dek: Buffer; wrapped: string } {
    return this.vault.newDataKey(dataKeyOwner.customer(customerId));
  }

  dataKey(row: Pick<CustomerEntity, 'id' | 'dataKey'>): Buffer | null {
    return row.dataKey ? this.vault.openDataKey(row.dataKey, dataKeyOwner.customer(row.id)) : null;
  }

  encrypt(dek: Buffer, customerId: string, field: CustomerPiiField, value: string | null | undefined): string | null {
    return this.vault.encryptNullable(dek, value ?? null, { table: 'customer', column: PII_COLUMN[field], rowId: customerId });
  }

  /** Free text bound to another table's row (event content, notes), under the customer's key. */
  sealText(dek: Buffer, aad: { table: string; column: string; rowId: string }, text: string): string {
    return this.vault.encrypt(dek, text, aad);
  }

  openText(dek: Buffer, aad: { table: string; column: string; rowId: string }, sealed: string): string {
    return this.vault.decrypt(dek, sealed, aad);
  }

  decryptAll(row: CustomerEntity): PiiValues {
    const dek = this.dataKey(row);
    const values: PiiValues = {};
    for (const field of CUSTOMER_PII_FIELDS) {
      values[field] = dek ? this.vault.decryptNullable(dek, row[field], { table: 'customer', column: PII_COLUMN[field], rowId: row.id }) : null;
    }
    return values;
  }

  blindIndexes(values: PiiValues): { emailBidx?: string | null; phoneBidx?: string | null; nationalIdBidx?: string | null } {
    const out: { emailBidx?: string | null; phoneBidx?: string | null; nationalIdBidx?: string | null } = {};
    if (values.email !== undefined) out.emailBidx = values.email ? this.vault.blindIndex('email', values.email) : null;
    if (values.phone !== undefined) out.phoneBidx = values.phone ? this.vault.blindIndex('phone', values.phone) : null;
    if (values.nationalId !== undefined) out.nationalIdBidx = values.nationalId ? this.vault.blindIndex('nationalId', values.nationalId) : null;
    return out;
  }

  blindIndex(field: 'email' | 'phone' | 'nationalId', value: string): string {
    return this.vault.blindIndex(field, value);
  }

  forget(row: Pick<CustomerEntity, 'dataKey'>): void {
    if (row.dataKey) this.vault.forget(row.dataKey);
  }

  /**
   * The API view of a row; the field policy decides what each principal gets of it. PII fields decrypt on
   * first read and only then (the data key is opened once per row): a page that selects three PII fields
   * decrypts three, and a field the principal may not see is never decrypted at all.
   */
  toModel(row: CustomerEntity): CustomerModel {
    const pii = new LazyPii(row, this);
    // Accessors in the literal rather than defineProperty per field: a 100-row page builds 100 of these.
    return {
      id: row.id,
      externalRef: row.externalRef,
      status: row.status as CustomerModel['status'],
      lifecycleStage: row.lifecycleStage as CustomerModel['lifecycleStage'],
      verificationLevel: row.verificationLevel as CustomerModel['verificationLevel'],
      get fullName() { return pii.get('fullName'); },
      set fullName(value) { pii.set('fullName', value); },
      get email() { return pii.get('email'); },
      set email(value) { pii.set('email', value); },
      get phone() { return pii.get('phone'); },
      set phone(value) { pii.set('phone', value); },
      get nationalId() { return pii.get('nationalId'); },
      set nationalId(value) { pii.set('nationalId', value); },
      get dateOfBirth() { return pii.get('dateOfBirth'); },
      set dateOfBirth(value) { pii.set('dateOfBirth', value); },
      get address() { return pii.get('address'); },
      set address(value) { pii.set('address', value); },
      riskScore: row.riskScore,
      riskLevel: row.riskLevel as CustomerModel['riskLevel'],
      riskFactors: (row.riskFactors as RiskFactor[]) ?? [],
      creditScore: row.creditScore,
      creditLevel: row.creditLevel as CustomerModel['creditLevel'],
      creditLimit: row.creditLimit,
      transactionLimit: row.transactionLimit,
      dailyLimit: row.dailyLimit,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      accountManagerId: row.accountManagerId,
      onboardedByPartnerId: row.onboardedByPartnerId,
    };
  }

  decryptField(dek: Buffer, row: CustomerEntity, field: CustomerPiiField): string | null {
    return this.vault.decryptNullable(dek, row[field], { table: 'customer', column: PII_COLUMN[field], rowId: row.id });
  }
}

/** One row's PII, each field decrypted on first read; the data key is opened once, on the first of them. */
class LazyPii {
  private dek: Buffer | null | undefined;
  private readonly values: PiiValues = {};

  constructor(
    private readonly row: CustomerEntity,
    private readonly pii: CustomerPii,
  ) {}

  get(field: CustomerPiiField): string | null {
    let value = this.values[field];
    if (value === undefined) {
      if (this.dek === undefined) this.dek = this.pii.dataKey(this.row);
      value = this.values[field] = this.dek ? this.pii.decryptField(this.dek, this.row, field) : null;
    }
    return value;
  }

  set(field: CustomerPiiField, value: string | null): void {
    this.values[field] = value;
  }
}
