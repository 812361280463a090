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
    return new CustomerView(row, this) as CustomerModel;
  }

  decryptField(dek: Buffer, row: CustomerEntity, field: CustomerPiiField): string | null {
    return this.vault.decryptNullable(dek, row[field], { table: 'customer', column: PII_COLUMN[field], rowId: row.id });
  }
}

/**
 * The API view of a customer row: plain fields copied, PII fields as accessors on the prototype that
 * decrypt on first read (the data key opened once, on the first of them) — no closures per row, and a
 * field the principal may not see is never decrypted. Writable like the plain model it stands for.
 */
class CustomerView {
  id: string;
  externalRef: string | null;
  status: CustomerModel['status'];
  lifecycleStage: CustomerModel['lifecycleStage'];
  verificationLevel: CustomerModel['verificationLevel'];
  riskScore: number | null;
  riskLevel: CustomerModel['riskLevel'];
  riskFactors: RiskFactor[] | null;
  creditScore: number | null;
  creditLevel: CustomerModel['creditLevel'];
  creditLimit: string | null;
  transactionLimit: string | null;
  dailyLimit: string | null;
  createdAt: Date | null;
  updatedAt: Date | null;
  accountManagerId: string | null;
  onboardedByPartnerId: string | null;
  // Private fields (not properties): the row's ciphertexts and key never show in a copy or a serialisation.
  readonly #row: CustomerEntity;
  readonly #pii: CustomerPii;
  #dek: Buffer | null | undefined;
  readonly #values: PiiValues = {};

  constructor(row: CustomerEntity, pii: CustomerPii) {
    this.#row = row;
    this.#pii = pii;
    this.id = row.id;
    this.externalRef = row.externalRef;
    this.status = row.status as CustomerModel['status'];
    this.lifecycleStage = row.lifecycleStage as CustomerModel['lifecycleStage'];
    this.verificationLevel = row.verificationLevel as CustomerModel['verificationLevel'];
    this.riskScore = row.riskScore;
    this.riskLevel = row.riskLevel as CustomerModel['riskLevel'];
    this.riskFactors = (row.riskFactors as RiskFactor[]) ?? [];
    this.creditScore = row.creditScore;
    this.creditLevel = row.creditLevel as CustomerModel['creditLevel'];
    this.creditLimit = row.creditLimit;
    this.transactionLimit = row.transactionLimit;
    this.dailyLimit = row.dailyLimit;
    this.createdAt = row.createdAt;
    this.updatedAt = row.updatedAt;
    this.accountManagerId = row.accountManagerId;
    this.onboardedByPartnerId = row.onboardedByPartnerId;
  }

  get fullName(): string | null { return this.#decrypted('fullName'); }
  set fullName(value: string | null) { this.#values.fullName = value; }
  get email(): string | null { return this.#decrypted('email'); }
  set email(value: string | null) { this.#values.email = value; }
  get phone(): string | null { return this.#decrypted('phone'); }
  set phone(value: string | null) { this.#values.phone = value; }
  get nationalId(): string | null { return this.#decrypted('nationalId'); }
  set nationalId(value: string | null) { this.#values.nationalId = value; }
  get dateOfBirth(): string | null { return this.#decrypted('dateOfBirth'); }
  set dateOfBirth(value: string | null) { this.#values.dateOfBirth = value; }
  get address(): string | null { return this.#decrypted('address'); }
  set address(value: string | null) { this.#values.address = value; }

  #decrypted(field: CustomerPiiField): string | null {
    let value = this.#values[field];
    if (value === undefined) {
      if (this.#dek === undefined) this.#dek = this.#pii.dataKey(this.#row);
      value = this.#values[field] = this.#dek ? this.#pii.decryptField(this.#dek, this.#row, field) : null;
    }
    return value;
  }
}
