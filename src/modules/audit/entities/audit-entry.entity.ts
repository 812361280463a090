import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Read-side mapping of the append-only `audit_entry` table, for reviewer queries. Rows are written only by
 * AuditWriter with SQL; the database refuses UPDATE/DELETE, so a `save()` of a loaded row fails loudly.
 */
@Entity('audit_entry')
export class AuditEntryEntity {
  /** bigint: TypeORM hands it over as a string, never a lossy number. */
  @PrimaryColumn({ type: 'bigint' }) id!: string;
  @Column({ name: 'occurred_at', type: 'timestamptz' }) occurredAt!: Date;
  @Column({ name: 'actor_type', type: 'text' }) actorType!: string;
  @Column({ name: 'actor_id', type: 'text', nullable: true }) actorId!: string | null;
  @Column({ type: 'text', nullable: true }) role!: string | null;
  @Column({ name: 'partner_id', type: 'uuid', nullable: true }) partnerId!: string | null;
  @Column({ name: 'session_id', type: 'uuid', nullable: true }) sessionId!: string | null;
  @Column({ type: 'text', nullable: true }) ip!: string | null;
  @Column({ name: 'user_agent', type: 'text', nullable: true }) userAgent!: string | null;
  @Column({ name: 'request_id', type: 'text', nullable: true }) requestId!: string | null;
  @Column({ type: 'text' }) action!: string;
  @Column({ name: 'resource_type', type: 'text', nullable: true }) resourceType!: string | null;
  @Column({ name: 'resource_id', type: 'text', nullable: true }) resourceId!: string | null;
  @Column({ name: 'customer_id', type: 'uuid', nullable: true }) customerId!: string | null;
  @Column({ type: 'text', array: true }) fields!: string[];
  @Column({ type: 'text' }) outcome!: string;
  @Column({ type: 'jsonb' }) details!: unknown;
  @Column({ name: 'prev_hash', type: 'text' }) prevHash!: string;
  @Column({ type: 'text' }) hash!: string;
}
