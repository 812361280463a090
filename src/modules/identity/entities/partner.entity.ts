import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { TrustLevel } from '../../../common/context/principal';

@Entity('partner')
export class PartnerEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column() name!: string;
  @Column({ name: 'contact_email' }) contactEmail!: string;
  @Column({ name: 'trust_level', type: 'text' }) trustLevel!: TrustLevel;
  @Column({ name: 'allowed_scopes', type: 'text', array: true }) allowedScopes!: string[];
  @Column({ name: 'events_per_minute', type: 'int', nullable: true }) eventsPerMinute!: number | null;
  @Column({ name: 'agreement_signed_at', type: 'timestamptz' }) agreementSignedAt!: Date;
  @Column({ name: 'agreement_expires_at', type: 'timestamptz' }) agreementExpiresAt!: Date;
  @Column({ name: 'suspended_at', type: 'timestamptz', nullable: true }) suspendedAt!: Date | null;
  /** Suspended while either cause holds (`suspended_at` set); each is lifted only by its own means. */
  @Column({ name: 'suspended_manually', type: 'boolean' }) suspendedManually!: boolean;
  @Column({ name: 'suspended_by_assessment', type: 'boolean' }) suspendedByAssessment!: boolean;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}

@Entity('partner_token')
export class PartnerTokenEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ name: 'partner_id', type: 'uuid' }) partnerId!: string;
  @Column() name!: string;
  @Column({ name: 'token_digest' }) tokenDigest!: string;
  @Column({ name: 'token_prefix' }) tokenPrefix!: string;
  @Column({ type: 'text', array: true }) scopes!: string[];
  @Column({ name: 'expires_at', type: 'timestamptz' }) expiresAt!: Date;
  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true }) revokedAt!: Date | null;
  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true }) lastUsedAt!: Date | null;
  @Column({ name: 'last_used_ip', type: 'text', nullable: true }) lastUsedIp!: string | null;
  @Column({ name: 'created_by', type: 'uuid', nullable: true }) createdBy!: string | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}

@Entity('partner_assessment')
export class PartnerAssessmentEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ name: 'partner_id', type: 'uuid' }) partnerId!: string;
  @Column({ type: 'text' }) result!: 'PASS' | 'CONDITIONAL' | 'FAIL';
  @Column({ type: 'text', nullable: true }) notes!: string | null;
  @Column({ name: 'next_due_at', type: 'timestamptz', nullable: true }) nextDueAt!: Date | null;
  @Column({ name: 'assessed_by', type: 'uuid', nullable: true }) assessedBy!: string | null;
  @Column({ name: 'assessed_at', type: 'timestamptz' }) assessedAt!: Date;
}
