import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export type CustomerStatus = 'ACTIVE' | 'RESTRICTED' | 'SUSPENDED' | 'TERMINATED' | 'ERASED';

/** A customer row as stored: PII columns hold ciphertext (`e1.…`), never plaintext. */
@Entity('customer')
export class CustomerEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ name: 'external_ref' }) externalRef!: string;
  @Column({ type: 'text' }) status!: CustomerStatus;
  @Column({ name: 'lifecycle_stage', type: 'text' }) lifecycleStage!: string;
  @Column({ name: 'verification_level', type: 'text' }) verificationLevel!: string;
  @Column({ name: 'data_key', type: 'text', nullable: true }) dataKey!: string | null;
  @Column({ name: 'full_name', type: 'text', nullable: true }) fullName!: string | null;
  @Column({ type: 'text', nullable: true }) email!: string | null;
  @Column({ type: 'text', nullable: true }) phone!: string | null;
  @Column({ name: 'national_id', type: 'text', nullable: true }) nationalId!: string | null;
  @Column({ name: 'date_of_birth', type: 'text', nullable: true }) dateOfBirth!: string | null;
  @Column({ type: 'text', nullable: true }) address!: string | null;
  @Column({ name: 'email_bidx', type: 'text', nullable: true }) emailBidx!: string | null;
  @Column({ name: 'phone_bidx', type: 'text', nullable: true }) phoneBidx!: string | null;
  @Column({ name: 'national_id_bidx', type: 'text', nullable: true }) nationalIdBidx!: string | null;
  @Column({ name: 'account_manager_id', type: 'uuid', nullable: true }) accountManagerId!: string | null;
  @Column({ name: 'onboarded_by_partner_id', type: 'uuid', nullable: true }) onboardedByPartnerId!: string | null;
  @Column({ name: 'created_by_user_id', type: 'uuid', nullable: true }) createdByUserId!: string | null;
  @Column({ name: 'risk_score', type: 'int' }) riskScore!: number;
  @Column({ name: 'risk_level', type: 'text' }) riskLevel!: string;
  @Column({ name: 'risk_factors', type: 'jsonb' }) riskFactors!: Array<{ factor: string; points: number; detail: string | null }>;
  @Column({ name: 'credit_score', type: 'int', nullable: true }) creditScore!: number | null;
  @Column({ name: 'credit_level', type: 'text', nullable: true }) creditLevel!: string | null;
  @Column({ name: 'credit_limit', type: 'numeric', nullable: true }) creditLimit!: string | null;
  @Column({ name: 'transaction_limit', type: 'numeric', nullable: true }) transactionLimit!: string | null;
  /** While RESTRICTED, money-moving events above this amount are held (NULL: every amount). */
  @Column({ name: 'restricted_limit', type: 'numeric', nullable: true }) restrictedLimit!: string | null;
  @Column({ name: 'daily_limit', type: 'numeric', nullable: true }) dailyLimit!: string | null;
  @Column({ name: 'erased_at', type: 'timestamptz', nullable: true }) erasedAt!: Date | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}

/** The PII columns: encrypted with the customer's data key, AAD = (customer, column, id). */
export const CUSTOMER_PII_FIELDS = ['fullName', 'email', 'phone', 'nationalId', 'dateOfBirth', 'address'] as const;
export type CustomerPiiField = (typeof CUSTOMER_PII_FIELDS)[number];

export const PII_COLUMN: Record<CustomerPiiField, string> = {
  fullName: 'full_name',
  email: 'email',
  phone: 'phone',
  nationalId: 'national_id',
  dateOfBirth: 'date_of_birth',
  address: 'address',
};
