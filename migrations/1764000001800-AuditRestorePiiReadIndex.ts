import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Brings back `audit_entry_pii_read_idx`, dropped by migration 1600. Without it the PII-read-spike count
 * walks every entry of the actor's hour through `audit_entry_actor_idx`, table row by table row. For staff
 * that hour is mostly PII reads anyway, but a partner token is one actor for all it does: a token that
 * ingests a hundred calls a second and also reads customers would have its count read some 360 000 entries
 * at each check. One more index entry per PII read (~11 % of an append) is the cheaper side of that trade.
 */
export class AuditRestorePiiReadIndex1764000001800 implements MigrationInterface {
  name = 'AuditRestorePiiReadIndex1764000001800';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS audit_entry_pii_read_idx ON audit_entry (actor_id, occurred_at) INCLUDE (customer_id)
                     WHERE action = 'customer.read_pii'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS audit_entry_pii_read_idx`);
  }
}
