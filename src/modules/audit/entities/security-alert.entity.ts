import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type SecurityAlertKindValue = 'PII_READ_SPIKE' | 'DENIED_BURST' | 'TOKEN_NEW_NETWORK' | 'CHAIN_INVALID';
export type SecurityAlertStatusValue = 'OPEN' | 'ACKNOWLEDGED' | 'CLOSED';

/** An insider/abuse signal found on the audit stream (or a broken chain); visible to AUDITOR only. */
@Entity('security_alert')
export class SecurityAlertEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'text' }) kind!: SecurityAlertKindValue;
  /** What makes two alerts "the same" for de-duplication: the actor, the token and network, the break. */
  @Column({ name: 'dedup_key', type: 'text' }) dedupKey!: string;
  @Column({ name: 'actor_type', type: 'text', nullable: true }) actorType!: string | null;
  @Column({ name: 'actor_id', type: 'text', nullable: true }) actorId!: string | null;
  @Column({ name: 'partner_id', type: 'uuid', nullable: true }) partnerId!: string | null;
  @Column({ type: 'jsonb' }) detail!: Record<string, unknown>;
  @Column({ type: 'text' }) status!: SecurityAlertStatusValue;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
  @Column({ name: 'status_changed_by', type: 'uuid', nullable: true }) statusChangedBy!: string | null;
}
